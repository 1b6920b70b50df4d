//! The product's main answer as library calls: the market every valuation needs, every account's
//! holdings read concurrently, and the two valued together ([`Client::portfolio`]), exactly as
//! `bfx balances --json` prints them.

use bfx_core::portfolio::{self, AccountInput, Holdings, Portfolio, Valuation};
use bfx_core::{Market, Position, WalletRow};
use futures_util::future::join_all;

use crate::client::{Client, Symbols};
use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind};

/// `conf` keys the market needs: display names (`UST` → `USDt`) and each derivative currency's
/// underlying (`USTF0` → `UST`).
const MAPS: [&str; 2] = ["pub:map:currency:sym", "pub:map:currency:undl"];

/// A configured account: a name for the output, and its key.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub credentials: Credentials,
}

/// What was read of one account, with each failure as the client saw it.
#[derive(Debug)]
pub struct AccountHoldings {
    pub name: String,
    /// The wallets; an error here means the account could not be read.
    pub wallets: Result<Vec<WalletRow>, Error>,
    /// Open positions; `None` when the wallets were not read. An error here (a key without
    /// `positions` read, most often) leaves the wallets valid: the positions are skipped.
    pub positions: Option<Result<Vec<Position>, Error>>,
}

impl AccountHoldings {
    /// The portfolio's input: errors as `bfx balances --json` records them.
    pub fn input(&self) -> AccountInput {
        let holdings = match &self.wallets {
            Ok(wallets) => Ok(Holdings {
                wallets: wallets.clone(),
                positions: match &self.positions {
                    Some(Ok(positions)) => Ok(positions.clone()),
                    Some(Err(error)) => Err(error.account_error()),
                    None => Ok(Vec::new()),
                },
            }),
            Err(error) => Err(error.account_error()),
        };
        AccountInput { name: self.name.clone(), holdings }
    }

    /// The positions were skipped because the key may not read them (not a failure).
    pub fn positions_not_permitted(&self) -> bool {
        matches!(&self.positions, Some(Err(e)) if e.kind() == ErrorKind::Permission)
    }
}

impl Client {
    /// Every trading ticker and the currency maps (display names, derivative underlyings): one
    /// `tickers` and one `conf` request, concurrently.
    pub async fn market(&self) -> Result<Market, Error> {
        let (tickers, maps) = tokio::join!(self.tickers(Symbols::All), self.conf_maps(&MAPS));
        let tickers = tickers?;
        let mut maps = maps?.into_iter();
        let (names, underlying) = (maps.next().unwrap_or_default(), maps.next().unwrap_or_default());
        Ok(Market::new(&tickers, &underlying).with_names(names))
    }

    /// Every account's wallets, then its open positions, all accounts concurrently (requests of
    /// one key go out one at a time: they share its nonces). Each account keeps its own result,
    /// in the order given.
    pub async fn holdings(&self, accounts: &[Account]) -> Vec<AccountHoldings> {
        join_all(accounts.iter().map(|account| async move {
            let wallets = self.wallets(&account.credentials).await;
            let positions = match wallets {
                Ok(_) => Some(self.positions(&account.credentials).await),
                Err(_) => None,
            };
            AccountHoldings { name: account.name.clone(), wallets, positions }
        }))
        .await
    }

    /// `accounts` read and valued: what `bfx balances --json` prints. Fails only when there are
    /// no prices (the tickers or currency maps could not be fetched); a failed account is part of
    /// the portfolio, with its error.
    pub async fn portfolio(&self, accounts: &[Account], valuation: &Valuation) -> Result<Portfolio, Error> {
        let (holdings, market) = tokio::join!(self.holdings(accounts), self.market());
        let inputs: Vec<AccountInput> = holdings.iter().map(AccountHoldings::input).collect();
        Ok(portfolio::value(&inputs, Some(&market?), valuation))
    }
}
