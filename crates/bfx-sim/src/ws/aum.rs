//! The `bu` totals: an account's assets under management and its net assets, in USD.
//!
//! Bitfinex gives no unit or method; the emulator's rule, simple and stated: each wallet's balance
//! times the LAST_PRICE of `t<CCY>USD` (or `t<CCY>:USD`), `USD` at 1, wallets without such a
//! ticker left out. AUM sums the positive values (assets), AUM_NET all of them (assets − debts).

use bfx_core::{format_decimal, parse_json_number};
use rust_decimal::Decimal;

use crate::state::{Account, SimState};

/// LAST_PRICE's position among a trading ticker's fields (after the symbol).
const LAST_PRICE: usize = 6;

/// `[AUM,AUM_NET]` as exact decimal texts (normalised: no exponent, no trailing zeros).
///
/// Sums are exact up to `Decimal`'s 28 digits; a wallet whose value would overflow them is
/// left out like an unpriced one.
pub(crate) fn totals(state: &SimState, account: &Account) -> String {
    let (mut aum, mut net) = (Decimal::ZERO, Decimal::ZERO);
    for wallet in &account.wallets {
        let Some(value) = usd_price(state, &wallet.currency)
            .zip(parse_json_number(&wallet.balance).ok())
            .and_then(|(price, balance)| balance.checked_mul(price))
        else {
            continue;
        };
        let Some(new_net) = net.checked_add(value) else { continue };
        let new_aum = if value.is_sign_positive() { aum.checked_add(value) } else { Some(aum) };
        let Some(new_aum) = new_aum else { continue };
        (aum, net) = (new_aum, new_net);
    }
    format!("[{},{}]", format_decimal(aum), format_decimal(net))
}

fn usd_price(state: &SimState, currency: &str) -> Option<Decimal> {
    if currency == "USD" {
        return Some(Decimal::ONE);
    }
    [format!("t{currency}USD"), format!("t{currency}:USD")]
        .iter()
        .find_map(|symbol| state.ticker(symbol))
        .and_then(|ticker| ticker.fields.get(LAST_PRICE))
        .and_then(|price| parse_json_number(price).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"
[[account]]
name = "a"
user_id = 1
email = "a@example.com"
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "1.5"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "exchange"
  currency = "AVAX"
  balance = "2e0"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "margin"
  currency = "USD"
  balance = "-100.25"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "exchange"
  currency = "AIO"
  balance = "1000"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "exchange"
  currency = "ETH"
  balance = "1"
  unsettled_interest = "0"

[[ticker]]
symbol = "tBTCUSD"
row = ["1", "2", "3", "4", "5", "6", "114698.945701", "8", "9", "10"]
[[ticker]]
symbol = "tAVAX:USD"
row = ["1", "2", "3", "4", "5", "6", "31.768197", "8", "9", "10"]
[[ticker]]
symbol = "tETHUSD"
row = ["1", "2", "3", "4", "5", "6", "null", "8", "9", "10"]
"#;

    #[test]
    fn values_priced_wallets_and_nets_debts() {
        let state = SimState::from_toml(STATE, "s").unwrap();
        // 1.5 × 114698.945701 + 2 × 31.768197 = 172048.4185515 + 63.536394; − 100.25 for NET.
        // AIO has no ticker and ETH's LAST_PRICE is null: both left out.
        assert_eq!(totals(&state, &state.accounts[0]), "[172111.9549455,172011.7049455]");
        let empty = Account { wallets: Vec::new(), ..state.accounts[0].clone() };
        assert_eq!(totals(&state, &empty), "[0,0]");
    }
}
