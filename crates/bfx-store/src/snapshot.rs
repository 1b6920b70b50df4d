//! Snapshots of the valued portfolio (`bfx serve --snapshot-every`): what each account held at a
//! moment, valued as `/v1/portfolio` values it, so value over time has points between ledger
//! entries. [`AccountSnapshot::capture`] takes them from the live model; the store writes them
//! ([`crate::Store::store_snapshot`]) and reads them back ([`crate::Store::snapshots`]);
//! [`crate::periodic`] writes them on a schedule.
//!
//! Nothing incomplete looks complete: an account whose data is not current (its stream neither
//! live nor polling successfully) or valued with stale prices is written with its state and
//! `current: false` / `prices_current: false`, and without a total; its wallets are the last
//! known, with their age. An unpriced wallet has no value (NULL), never 0.

use std::time::Instant;

use bfx_client::live::Model;
use rust_decimal::Decimal;
use serde::Serialize;

/// One account at one moment, as written and as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSnapshot {
    /// The account's name.
    pub account: String,
    /// When, in milliseconds since the epoch (wall clock of the writer).
    pub mts: i64,
    /// The currency values are in (`USD`).
    pub quote: String,
    /// The state of the account's stream then (`live`, `polling`, `reconnecting`, …: the names
    /// of `bfx_account_state`).
    pub state: String,
    /// The account's data was current: its stream live, or polling with the last poll successful.
    pub current: bool,
    /// The prices were current (not older than three missed REST refreshes).
    pub prices_current: bool,
    /// Milliseconds since the account's last data (snapshot, wallet change or total); `None`
    /// before any.
    pub data_age_ms: Option<i64>,
    /// The sum of the account's priced wallets in the quote (`bfx balances`' account total:
    /// unpriced and paper wallets left out). `None` unless the account and the prices were
    /// current and the sum is known: a total here is a point to plot.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub total: Option<Decimal>,
    /// The unrealised P/L of its open positions in the quote; `None` when not read or unknown.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub positions_pl: Option<Decimal>,
    /// Its wallets, in the order Bitfinex lists them.
    pub wallets: Vec<WalletSnapshot>,
}

/// One wallet of an [`AccountSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletSnapshot {
    /// Lower-case wallet name (`exchange`, `margin`, `funding`).
    pub wallet: String,
    /// Currency (`BTC`, `UST`).
    pub currency: String,
    /// The balance, exactly as Bitfinex sent it.
    #[serde(with = "rust_decimal::serde::str")]
    pub balance: Decimal,
    /// The price of one unit in the quote; `None` when unpriced.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub price: Option<Decimal>,
    /// The balance valued in the quote; `None` when unpriced (or paper), never 0 for unknown.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub value: Option<Decimal>,
}

impl AccountSnapshot {
    /// Every account of `model`, valued as `/v1/portfolio` values them (`Model::valued`), at
    /// `mts` (wall clock) and `now` (for ages), in the model's order.
    pub fn capture(model: &Model, mts: i64, now: Instant) -> Vec<AccountSnapshot> {
        let portfolio = model.valued();
        let prices_current = model.has_prices() && !model.prices_stale(now);
        model
            .accounts
            .iter()
            .zip(&portfolio.accounts)
            .map(|(view, valued)| {
                let current = view.is_current();
                AccountSnapshot {
                    account: view.name.clone(),
                    mts,
                    quote: portfolio.quote.clone(),
                    state: view.state.name().to_owned(),
                    current,
                    prices_current,
                    data_age_ms: view.age(now).map(|age| i64::try_from(age.as_millis()).unwrap_or(i64::MAX)),
                    total: valued.total.filter(|_| current && prices_current && valued.error.is_none()),
                    positions_pl: valued.positions_pl,
                    wallets: valued
                        .wallets
                        .iter()
                        .map(|w| WalletSnapshot {
                            wallet: w.wallet_type.as_str().to_owned(),
                            currency: w.currency.clone(),
                            balance: w.balance,
                            price: w.price,
                            value: w.value,
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// A whole, current point: data and prices current, the total known, every wallet priced
    /// (paper ones aside, which no total counts).
    pub fn is_complete(&self) -> bool {
        self.current
            && self.prices_current
            && self.total.is_some()
            && self.wallets.iter().all(|w| w.value.is_some() || bfx_core::valuation::is_paper(&w.currency))
    }

    /// Wallets without a value (unpriced, or paper).
    pub fn unpriced(&self) -> usize {
        self.wallets.iter().filter(|w| w.value.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfx_client::live::fixtures::{market, row};
    use bfx_client::{Error, SocketError, StreamEvent, StreamState};
    use bfx_core::PriceKind;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn current_accounts_have_totals_stale_ones_their_state_and_no_total() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["a".to_owned(), "b".to_owned(), "c".to_owned()]);
        model.set_market(market(), t0);
        model.apply("a", StreamEvent::Status(StreamState::Live), t0);
        model.apply(
            "a",
            StreamEvent::Snapshot {
                wallets: vec![row("exchange", "BTC", "1.5"), row("exchange", "XYZ", "3")],
            },
            t0,
        );
        model.apply("b", StreamEvent::Snapshot { wallets: vec![row("margin", "ETH", "2")] }, t0);
        let error = Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false }));
        let reconnecting = StreamState::Reconnecting { attempt: 1, after: Duration::ZERO, error };
        model.apply("b", StreamEvent::Status(reconnecting), t0);
        let refused = Arc::new(Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() });
        model.apply("c", StreamEvent::Status(StreamState::Failed { error: refused }), t0);

        let later = t0 + Duration::from_secs(3);
        let snapshots = AccountSnapshot::capture(&model, 1_000, later);
        let [a, b, c] = &snapshots[..] else { panic!("{snapshots:?}") };

        assert_eq!(
            (a.account.as_str(), a.mts, a.quote.as_str(), a.state.as_str()),
            ("a", 1_000, "USD", "live")
        );
        assert!(a.current && a.prices_current);
        assert_eq!(a.total, Some("150000".parse().unwrap()));
        assert_eq!(a.data_age_ms, Some(3_000));
        assert_eq!(a.wallets.len(), 2);
        assert_eq!(a.wallets[0].value, Some("150000".parse().unwrap()));
        assert_eq!(a.wallets[0].price, Some("100000".parse().unwrap()));
        assert_eq!(
            (a.wallets[1].currency.as_str(), a.wallets[1].value, a.wallets[1].price),
            ("XYZ", None, None)
        );
        assert!(!a.is_complete(), "XYZ is unpriced");
        assert_eq!(a.unpriced(), 1);

        assert_eq!((b.state.as_str(), b.current, b.total), ("reconnecting", false, None));
        assert_eq!(b.wallets[0].value, Some("8000".parse().unwrap()), "its last known wallets, valued");
        assert!(!b.is_complete());

        assert_eq!((c.state.as_str(), c.current, c.total, c.data_age_ms), ("failed", false, None, None));
        assert!(c.wallets.is_empty());

        // Prices older than three missed refreshes: nothing has a total.
        let stale = AccountSnapshot::capture(&model, 2_000, t0 + Duration::from_secs(60));
        assert!(!stale[0].prices_current && stale[0].current);
        assert_eq!(stale[0].total, None);
    }
}
