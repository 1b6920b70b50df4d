//! The descriptions the emulator writes on ledger entries, in Bitfinex's forms (spec, "History"),
//! so that `bfx_core::ledger::category` finds the right category for each kind of change.
//!
//! Used by the admin API (a wallet change's `kind`) and by the demo history.

use bfx_core::format_decimal;
use bfx_core::pair_symbol;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::state::SimState;

/// What a balance change was. The admin API's `kind`; default [`Kind::Adjustment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// 101: `Deposit (BTC) #ID on wallet exchange`.
    Deposit,
    /// 104: `BTC Withdrawal #ID on wallet exchange`.
    Withdrawal,
    /// 5: `Exchange 0.1 BTC for USD @ PRICE on wallet exchange`.
    Trade,
    /// 201: `Trading fees for 0.1 BTC (BTCUSD) @ PRICE on BFX (0.2%) on wallet exchange`.
    Fee,
    /// 28: `Margin Funding Payment on wallet funding` (lending earnings).
    FundingPayment,
    /// 51: `Transfer of 1 BTC from wallet Exchange to Funding on wallet funding`.
    Transfer,
    /// 401: `Adjustment on wallet exchange`.
    #[default]
    Adjustment,
    /// 31: `Settlement @ PRICE on wallet margin`.
    Settlement,
    /// 27: `Position #ID funding cost on wallet margin`.
    FundingCost,
    /// 22: `Position closed @ PRICE on wallet margin`.
    PositionClosed,
    /// 262: `Staking reward on wallet exchange`.
    StakingReward,
    /// 254: `Crypto Withdrawal fee on wallet exchange`.
    WithdrawalFee,
}

impl Kind {
    /// Every kind, for tests and error messages.
    #[cfg(test)]
    pub(crate) const ALL: [Kind; 12] = [
        Kind::Deposit,
        Kind::Withdrawal,
        Kind::Trade,
        Kind::Fee,
        Kind::FundingPayment,
        Kind::Transfer,
        Kind::Adjustment,
        Kind::Settlement,
        Kind::FundingCost,
        Kind::PositionClosed,
        Kind::StakingReward,
        Kind::WithdrawalFee,
    ];
}

/// What a description says about its entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change<'a> {
    pub(crate) kind: Kind,
    pub(crate) currency: &'a str,
    /// The wallet changed (`exchange`, `margin`, `funding`).
    pub(crate) wallet: &'a str,
    /// Signed.
    pub(crate) amount: Decimal,
    /// The entry's id (deposit and withdrawal numbers, position ids).
    pub(crate) id: i64,
    /// A trade's or settlement's price, as text.
    pub(crate) price: Option<&'a str>,
    /// A transfer's other wallet.
    pub(crate) counterpart: &'a str,
}

/// The quote a currency trades against in descriptions: USD, or UST for USD itself.
pub(crate) fn counter_currency(currency: &str) -> &'static str {
    if currency == "USD" { "UST" } else { "USD" }
}

/// The last price of `currency` in its [`counter_currency`], from the state's tickers.
pub(crate) fn last_price<'s>(state: &'s SimState, currency: &str) -> Option<&'s str> {
    let ticker = state.ticker(&pair_symbol(currency, counter_currency(currency)))?;
    ticker.fields.get(6).map(String::as_str).filter(|p| *p != "null")
}

/// A transfer's default other wallet: exchange's is margin, every other wallet's is exchange.
pub(crate) fn default_counterpart(wallet: &str) -> &'static str {
    if wallet == "exchange" { "margin" } else { "exchange" }
}

/// The description of `change`, in Bitfinex's words.
pub(crate) fn describe(change: &Change<'_>) -> String {
    let Change { kind, currency, wallet, amount, id, price, counterpart } = *change;
    let size = format_decimal(amount.abs());
    let at = price.map(|p| format!(" @ {p}")).unwrap_or_default();
    let counter = counter_currency(currency);
    match kind {
        Kind::Deposit => format!("Deposit ({currency}) #{id} on wallet {wallet}"),
        Kind::Withdrawal => format!("{currency} Withdrawal #{id} on wallet {wallet}"),
        Kind::Trade => format!("Exchange {size} {currency} for {counter}{at} on wallet {wallet}"),
        Kind::Fee => {
            let pair = pair_symbol(currency, counter);
            let pair = pair.trim_start_matches('t').replace(':', "");
            format!("Trading fees for {size} {currency} ({pair}){at} on BFX (0.2%) on wallet {wallet}")
        }
        Kind::FundingPayment => format!("Margin Funding Payment on wallet {wallet}"),
        Kind::Transfer => {
            let (from, to) =
                if amount.is_sign_negative() { (wallet, counterpart) } else { (counterpart, wallet) };
            format!(
                "Transfer of {size} {currency} from wallet {} to {} on wallet {wallet}",
                capitalised(from),
                capitalised(to)
            )
        }
        Kind::Adjustment => format!("Adjustment on wallet {wallet}"),
        Kind::Settlement => format!("Settlement{at} on wallet {wallet}"),
        Kind::FundingCost => format!("Position #{id} funding cost on wallet {wallet}"),
        Kind::PositionClosed => format!("Position closed{at} on wallet {wallet}"),
        Kind::StakingReward => format!("Staking reward on wallet {wallet}"),
        Kind::WithdrawalFee => format!("Crypto Withdrawal fee on wallet {wallet}"),
    }
}

/// `exchange` → `Exchange`, as transfer descriptions name wallets.
fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfx_core::ledger::{Category, category, wallet_of_description};
    use std::str::FromStr;

    #[test]
    fn every_kind_has_its_category_and_names_its_wallet() {
        let expected = [101, 104, 5, 201, 28, 51, 401, 31, 27, 22, 262, 254];
        for (kind, code) in Kind::ALL.into_iter().zip(expected) {
            for (wallet, amount, price) in
                [("exchange", "-0.25", Some("114698.9")), ("funding", "1.5", None), ("margin", "-3", None)]
            {
                let text = describe(&Change {
                    kind,
                    currency: "BTC",
                    wallet,
                    amount: Decimal::from_str(amount).unwrap(),
                    id: 42,
                    price,
                    counterpart: default_counterpart(wallet),
                });
                assert_eq!(category(&text), Some(Category(code)), "{kind:?}: {text}");
                assert_eq!(wallet_of_description(&text).as_deref(), Some(wallet), "{text}");
            }
        }
    }

    #[test]
    fn descriptions_read_like_bitfinex() {
        let change = |kind, amount: &str, price| Change {
            kind,
            currency: "BTC",
            wallet: "exchange",
            amount: Decimal::from_str(amount).unwrap(),
            id: 7,
            price,
            counterpart: "funding",
        };
        assert_eq!(
            describe(&change(Kind::Trade, "-0.100", Some("114698.9"))),
            "Exchange 0.1 BTC for USD @ 114698.9 on wallet exchange"
        );
        assert_eq!(
            describe(&change(Kind::Fee, "-0.0002", Some("114698.9"))),
            "Trading fees for 0.0002 BTC (BTCUSD) @ 114698.9 on BFX (0.2%) on wallet exchange"
        );
        assert_eq!(
            describe(&change(Kind::Transfer, "-1.5", None)),
            "Transfer of 1.5 BTC from wallet Exchange to Funding on wallet exchange"
        );
        assert_eq!(describe(&change(Kind::Deposit, "2", None)), "Deposit (BTC) #7 on wallet exchange");
        assert_eq!(describe(&change(Kind::Withdrawal, "-2", None)), "BTC Withdrawal #7 on wallet exchange");
        assert_eq!(counter_currency("USD"), "UST");
        let kind: Kind = serde_json::from_str("\"funding_payment\"").unwrap();
        assert_eq!(kind, Kind::FundingPayment);
        assert!(serde_json::from_str::<Kind>("\"gift\"").is_err());
    }
}
