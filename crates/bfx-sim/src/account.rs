//! Bodies of the authenticated endpoints: wallets, positions, permissions, user info.
//!
//! JSON is written as text so amounts go out exactly as the state file wrote them (`1e-8`,
//! 18 decimals), never through `f64`. Wallet rows always carry all 7 fields and position rows all
//! 20: the official Python client crashes on wallet rows shorter than it expects.

use crate::reply::quoted;
use crate::state::{Account, ApiKey, MTS_ACCOUNT_CREATE, Position, Wallet};

/// `META` of every position row: how the emulated positions came about.
const POSITION_META: &str = r#"{"reason":"TRADE"}"#;

/// `auth/r/wallets`: `[[TYPE, CURRENCY, BALANCE, UNSETTLED_INTEREST, AVAILABLE, LAST_CHANGE, null], …]`.
pub(crate) fn wallets(account: &Account, _key: &ApiKey) -> String {
    let rows: Vec<String> = account.wallets.iter().map(|w| wallet_row(w, w.available.as_deref())).collect();
    format!("[{}]", rows.join(","))
}

/// One wallet row with `available` as AVAILABLE_BALANCE (`None` = `null`). REST serves the
/// state's value; the WebSocket serves `null` until a `calc` asks for it.
pub(crate) fn wallet_row(w: &Wallet, available: Option<&str>) -> String {
    format!(
        "[{},{},{},{},{},{},null]",
        quoted(&w.wallet_type),
        quoted(&w.currency),
        w.balance,
        w.unsettled_interest,
        available.unwrap_or("null"),
        w.last_change.as_deref().map_or_else(|| "null".to_owned(), quoted),
    )
}

/// `auth/r/positions`: the account's open positions, 20 fields each (see [`position_row`]).
pub(crate) fn positions(account: &Account, _key: &ApiKey) -> String {
    let rows: Vec<String> = account.positions.iter().map(position_row).collect();
    format!("[{}]", rows.join(","))
}

/// `[SYMBOL, STATUS, AMOUNT, BASE_PRICE, MARGIN_FUNDING, MARGIN_FUNDING_TYPE, PL, PL_PERC,
/// PRICE_LIQ, LEVERAGE, null, POSITION_ID, MTS_CREATE, MTS_UPDATE, null, TYPE, null, COLLATERAL,
/// COLLATERAL_MIN, META]`; the unused slots are `null` as on Bitfinex.
pub(crate) fn position_row(p: &Position) -> String {
    let opt = |value: &Option<String>| value.as_deref().unwrap_or("null").to_owned();
    format!(
        "[{},{},{},{},{},{},{},{},{},{},null,{},{},{},null,{},null,{},{},{POSITION_META}]",
        quoted(&p.symbol),
        quoted(&p.status),
        p.amount,
        p.base_price,
        p.margin_funding,
        p.margin_funding_type,
        opt(&p.pl),
        opt(&p.pl_perc),
        opt(&p.price_liq),
        opt(&p.leverage),
        p.id,
        p.mts_create,
        p.mts_update,
        p.kind,
        p.collateral,
        p.collateral_min,
    )
}

/// `auth/r/permissions`: `[[SCOPE, READ, WRITE], …]`, documented scopes first, flags 0/1.
pub(crate) fn permissions(_account: &Account, key: &ApiKey) -> String {
    let rows: Vec<String> = key
        .scopes()
        .into_iter()
        .map(|(scope, access)| {
            format!("[{},{},{}]", quoted(scope), u8::from(access.read), u8::from(access.write))
        })
        .collect();
    format!("[{}]", rows.join(","))
}

/// `auth/r/info/user`, the short form: `[ID, EMAIL, USERNAME, MTS_ACCOUNT_CREATE, VERIFIED,
/// VERIFICATION_LEVEL, null, TIMEZONE, LOCALE, COMPANY, EMAIL_VERIFIED]`.
pub(crate) fn user_info(account: &Account, _key: &ApiKey) -> String {
    format!(
        "[{},{},{},{MTS_ACCOUNT_CREATE},1,2,null,\"UTC\",\"en_US\",\"bitfinex\",1]",
        account.user_id,
        quoted(&account.email),
        quoted(&account.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SimState;

    const STATE: &str = r#"
[[account]]
name = "main"
user_id = 1001
email = "main@example.com"
  [[account.key]]
  key = "k"
  secret = "s"
  permissions = { wallets = "r", eaas_agreement = "rw" }
  [[account.wallet]]
  type = "exchange"
  currency = "ETH"
  balance = "0.123456789012345678"
  unsettled_interest = "0"
  available = "1E-8"
  last_change = "Deposit \"x\""
  [[account.wallet]]
  type = "funding"
  currency = "USD"
  balance = "-0.00000001"
  unsettled_interest = "2.5e-7"
  [[account.position]]
  symbol = "tETHUSD"
  amount = "-1.5"
  base_price = "4120"
  pl = "-335.92"
  leverage = "2.5E0"
  id = 7
"#;

    fn main_account() -> (Account, ApiKey) {
        let state = SimState::from_toml(STATE, "s").unwrap();
        let account = state.accounts[0].clone();
        let key = account.keys[0].clone();
        (account, key)
    }

    #[test]
    fn wallet_rows_are_verbatim_and_complete() {
        let (account, key) = main_account();
        let body = wallets(&account, &key);
        assert_eq!(
            body,
            r#"[["exchange","ETH",0.123456789012345678,0,1E-8,"Deposit \"x\"",null],["funding","USD",-0.00000001,2.5e-7,null,null,null]]"#
        );
        let parsed = bfx_core::parse_wallets(body.as_bytes()).unwrap();
        assert_eq!(parsed[0].balance.to_string(), "0.123456789012345678");
        let empty = Account { wallets: Vec::new(), ..account };
        assert_eq!(wallets(&empty, &key), "[]");
    }

    #[test]
    fn position_rows_are_verbatim_with_all_20_fields() {
        let (account, key) = main_account();
        let body = positions(&account, &key);
        assert_eq!(
            body,
            r#"[["tETHUSD","ACTIVE",-1.5,4120,0,0,-335.92,null,null,2.5E0,null,7,1577836800000,1577836800000,null,0,null,0,0,{"reason":"TRADE"}]]"#
        );
        let row: Vec<serde_json::Value> =
            serde_json::from_str::<Vec<Vec<serde_json::Value>>>(&body).unwrap().remove(0);
        assert_eq!(row.len(), 20);
        let parsed = bfx_core::parse_positions(body.as_bytes()).unwrap().remove(0);
        assert_eq!(parsed.amount.to_string(), "-1.5");
        assert_eq!(parsed.pl.map(|pl| pl.to_string()).as_deref(), Some("-335.92"));
        assert_eq!((parsed.id, parsed.kind, parsed.price_liq), (Some(7), Some(0), None));
        let none = Account { positions: Vec::new(), ..account };
        assert_eq!(positions(&none, &key), "[]");
    }

    #[test]
    fn permission_rows_list_every_scope() {
        let (account, key) = main_account();
        assert_eq!(
            permissions(&account, &key),
            r#"[["account",0,0],["history",0,0],["orders",0,0],["positions",0,0],["funding",0,0],["settings",0,0],["wallets",1,0],["withdraw",0,0],["ui_withdraw",0,0],["bfxpay",0,0],["eaas_agreement",1,1]]"#
        );
    }

    #[test]
    fn user_info_row() {
        let (account, key) = main_account();
        let body = user_info(&account, &key);
        assert_eq!(
            body,
            r#"[1001,"main@example.com","main",1577836800000,1,2,null,"UTC","en_US","bitfinex",1]"#
        );
        let user = bfx_core::parse_user_info(body.as_bytes()).unwrap();
        assert_eq!((user.id, user.username.as_deref()), (1001, Some("main")));
    }
}
