//! `auth/r/ledgers/hist` and `auth/r/ledgers/{CURRENCY}/hist`: the body's parameters, read
//! strictly, and the page they ask for.
//!
//! Body (all optional): `start`, `end` (ms, inclusive, on MTS), `limit` (1–2500), `category`
//! (int), `wallet` (`exchange`/`margin`/`funding`). Integers may come as JSON numbers or as
//! strings of digits (the official Python client types `start`/`end` as `str`); `null` means
//! absent (ccxt and others send unset fields that way). Anything else is `["error",10020,
//! "<param>: invalid"]`, HTTP 500, as Bitfinex answers a limit above 2500.

use serde_json::{Map, Value};

use crate::auth::Call;
use crate::ledger::Query;
use crate::reply::Rejection;
use crate::state::{Account, ApiKey};

/// Rows when the body gives no `limit`. Bitfinex does not document it; 25 is what the server was
/// observed to answer without one (spritian/php-bitfinex-v2 PR #7, 2019: "It was set to default
/// of 25 entries"), and the default Bitfinex's own clients used for this endpoint
/// (bitfinexcom/bitfinex-api-node PR #346, bitfinexcom/bitfinex-api-py PR #70, the legacy client).
pub(crate) const DEFAULT_LIMIT: usize = 25;
/// The documented maximum ("Number of records (Max 2500)").
pub(crate) const MAX_LIMIT: usize = 2500;
/// The wallets the `wallet` filter accepts.
const WALLETS: [&str; 3] = ["exchange", "margin", "funding"];
/// Longest currency code accepted in the path (Bitfinex's are 2–10 characters: `TESTUSDT`).
const MAX_CURRENCY_LEN: usize = 16;

/// The page the request asks for, newest first.
pub(crate) fn ledgers(account: &Account, _key: &ApiKey, call: &Call<'_>) -> Result<String, Rejection> {
    let currency = call.currency.map(currency).transpose()?;
    let params = Params::parse(call.body)?;
    Ok(account.ledger.page(&Query {
        currency,
        wallet: params.wallet.as_deref(),
        category: params.category,
        start: params.start,
        end: params.end,
        limit: params.limit,
    }))
}

/// A currency code as the path gives it: upper-case letters and digits (`BTC`, `UST`, `TESTBTC`),
/// no `f`/`t` prefix.
fn currency(code: &str) -> Result<&str, Rejection> {
    let valid = !code.is_empty()
        && code.len() <= MAX_CURRENCY_LEN
        && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if valid { Ok(code) } else { Err(Rejection::CurrencyInvalid) }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    start: Option<i64>,
    end: Option<i64>,
    limit: usize,
    category: Option<i64>,
    wallet: Option<String>,
}

impl Params {
    fn parse(body: &[u8]) -> Result<Params, Rejection> {
        let fields: Map<String, Value> = if body.is_empty() {
            Map::new()
        } else {
            serde_json::from_slice(body).map_err(|_| Rejection::BadBody)?
        };
        let field = |name: &str| fields.get(name).filter(|v| !v.is_null());
        let time = |name: &str, refused: Rejection| {
            field(name).map(|v| integer(v).filter(|t| *t >= 0).ok_or(refused)).transpose()
        };
        let limit = match field("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => integer(v)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or(Rejection::LimitInvalid)?,
        };
        let wallet = match field("wallet") {
            None => None,
            Some(Value::String(w)) if WALLETS.contains(&w.as_str()) => Some(w.clone()),
            Some(_) => return Err(Rejection::WalletInvalid),
        };
        Ok(Params {
            start: time("start", Rejection::StartInvalid)?,
            end: time("end", Rejection::EndInvalid)?,
            limit,
            category: field("category").map(|v| integer(v).ok_or(Rejection::CategoryInvalid)).transpose()?,
            wallet,
        })
    }
}

/// A whole number given as a JSON integer or as a string of digits (optionally `-`).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Params, Rejection> {
        Params::parse(body.as_bytes())
    }

    #[test]
    fn defaults_and_accepted_forms() {
        let none = Params { start: None, end: None, limit: DEFAULT_LIMIT, category: None, wallet: None };
        assert_eq!(parse(""), Ok(none.clone()));
        assert_eq!(parse("{}"), Ok(none.clone()));
        assert_eq!(
            parse(r#"{"start":null,"end":null,"limit":null,"category":null,"wallet":null,"other":1}"#),
            Ok(none.clone())
        );
        assert_eq!(
            parse(r#"{"start":"1000","end":2000,"limit":"2500","category":28,"wallet":"funding"}"#),
            Ok(Params {
                start: Some(1000),
                end: Some(2000),
                limit: 2500,
                category: Some(28),
                wallet: Some("funding".into())
            })
        );
        assert_eq!(parse(r#"{"limit":1}"#).map(|p| p.limit), Ok(1));
    }

    #[test]
    fn each_bad_parameter_names_itself() {
        for (body, rejection) in [
            (r#"{"limit":2501}"#, Rejection::LimitInvalid),
            (r#"{"limit":0}"#, Rejection::LimitInvalid),
            (r#"{"limit":-5}"#, Rejection::LimitInvalid),
            (r#"{"limit":2.5}"#, Rejection::LimitInvalid),
            (r#"{"limit":"ten"}"#, Rejection::LimitInvalid),
            (r#"{"start":"1e3"}"#, Rejection::StartInvalid),
            (r#"{"start":-1}"#, Rejection::StartInvalid),
            (r#"{"end":true}"#, Rejection::EndInvalid),
            (r#"{"category":"x"}"#, Rejection::CategoryInvalid),
            (r#"{"wallet":"trading"}"#, Rejection::WalletInvalid),
            (r#"{"wallet":1}"#, Rejection::WalletInvalid),
        ] {
            assert_eq!(parse(body), Err(rejection), "{body}");
        }
        assert_eq!(Rejection::LimitInvalid.message(), "limit: invalid");
        assert_eq!(Rejection::LimitInvalid.code(), 10020);
    }

    #[test]
    fn currency_codes() {
        for ok in ["BTC", "UST", "TESTUSDT", "USTF0"] {
            assert_eq!(currency(ok), Ok(ok));
        }
        for bad in ["", "btc", "tBTC", "BTC:USD", "{currency}", "ABCDEFGHIJKLMNOPQ"] {
            assert_eq!(currency(bad), Err(Rejection::CurrencyInvalid), "{bad}");
        }
    }
}
