//! The admin API's wallet changes: set a wallet's fields, or move its balance by a delta. Every
//! change of a balance appends the matching ledger entry (its description from the request's
//! `kind`), so the newest entry's balance is always the wallet's.
//!
//! Amounts arrive as JSON number texts (a string `"1.25"` or a bare number `1.25`, read from its
//! text, never through `f64`) and are stored verbatim, as the state file's are. A move adds
//! exactly (`rust_decimal`) and stores the normalised sum: no exponent, no trailing zeros.

use bfx_core::{format_decimal, parse_json_number};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::ledger::{EntryView, NewEntry, exact_sub};
use crate::ledger_text::{Change, Kind, default_counterpart, describe, last_price};
use crate::state::{Account, SimState, Wallet};

/// Why an edit was refused: the request is wrong (400), or names something absent (404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EditError {
    Invalid(String),
    NotFound(String),
}

/// A JSON number's text, validated as one an exact decimal holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Amount(String);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        number_text(&raw).map(Amount).map_err(D::Error::custom)
    }
}

/// The text of a number given as a JSON string (`"1.25"`) or a bare JSON number (`1.25`).
pub(crate) fn number_text(raw: &RawValue) -> Result<String, String> {
    let text = match raw.get() {
        quoted if quoted.starts_with('"') => {
            serde_json::from_str::<String>(quoted).map_err(|e| e.to_string())?
        }
        bare => bare.to_owned(),
    };
    parse_json_number(&text).map_err(|e| e.to_string())?;
    Ok(text)
}

/// Tells a field given as `null` (`Some(None)`) from one not given (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WalletRequest {
    account: String,
    #[serde(rename = "type")]
    wallet_type: String,
    currency: String,
    balance: Option<Amount>,
    unsettled_interest: Option<Amount>,
    #[serde(default, deserialize_with = "present")]
    available: Option<Option<Amount>>,
    #[serde(default, deserialize_with = "present")]
    last_change: Option<Option<String>>,
    delta: Option<Amount>,
    /// What the balance change was: picks the ledger entry's description.
    #[serde(default)]
    kind: Kind,
    /// A transfer's other wallet (default: exchange's is margin, the others' exchange).
    counterpart: Option<String>,
}

/// `POST /sim/wallets`. With `delta`: moves an existing wallet's balance (and its available
/// amount, unless that is null) by it. Otherwise sets the fields given, keeping the others; a new
/// wallet needs `balance` and starts with `unsettled_interest` 0, `available` and `last_change` null.
/// A balance that changes appends a ledger entry at `now_ms` (or the newest entry's MTS, if later);
/// the answer carries it as `ledger` (`null` when the balance did not change).
pub(crate) fn edit_wallet(state: &mut SimState, body: &[u8], now_ms: i64) -> Result<Value, EditError> {
    let request: WalletRequest =
        serde_json::from_slice(body).map_err(|e| EditError::Invalid(format!("wallet: {e}")))?;
    if request.wallet_type.is_empty() || request.currency.is_empty() {
        return Err(EditError::Invalid("wallet: type and currency must not be empty".to_owned()));
    }
    let price = last_price(state, &request.currency).map(str::to_owned);
    let counterpart =
        request.counterpart.clone().unwrap_or_else(|| default_counterpart(&request.wallet_type).to_owned());
    let kind = request.kind;
    let known: Vec<&str> = state.accounts.iter().map(|a| a.name.as_str()).collect();
    let known = known.join(", ");
    let account = state.accounts.iter_mut().find(|a| a.name == request.account).ok_or_else(|| {
        EditError::NotFound(format!("wallet: unknown account {:?}; known: {known}", request.account))
    })?;
    let found = account
        .wallets
        .iter()
        .position(|w| w.wallet_type == request.wallet_type && w.currency == request.currency);
    let before = found.and_then(|index| account.wallets.get(index)).cloned();
    let wallet = match (request.delta, found) {
        (Some(delta), Some(index)) => {
            let setting = request.balance.is_some()
                || request.unsettled_interest.is_some()
                || request.available.is_some()
                || request.last_change.is_some();
            if setting {
                return Err(EditError::Invalid(
                    "wallet: give either delta or fields to set, not both".to_owned(),
                ));
            }
            let wallet = &mut account.wallets[index];
            let balance = moved(&wallet.balance, &delta.0)?;
            let available = wallet.available.as_deref().map(|a| moved(a, &delta.0)).transpose()?;
            wallet.balance = balance;
            wallet.available = available;
            wallet
        }
        (Some(_), None) => {
            return Err(EditError::NotFound(format!(
                "wallet: account {:?} has no {} wallet for {}; set its balance first",
                request.account, request.wallet_type, request.currency
            )));
        }
        (None, Some(index)) => {
            let wallet = &mut account.wallets[index];
            if let Some(balance) = request.balance {
                wallet.balance = balance.0;
            }
            if let Some(interest) = request.unsettled_interest {
                wallet.unsettled_interest = interest.0;
            }
            if let Some(available) = request.available {
                wallet.available = available.map(|a| a.0);
            }
            if let Some(last_change) = request.last_change {
                wallet.last_change = last_change;
            }
            wallet
        }
        (None, None) => {
            let balance = request.balance.ok_or_else(|| {
                EditError::Invalid(
                    "wallet: a new wallet needs a balance (or use delta on an existing one)".to_owned(),
                )
            })?;
            account.wallets.push(Wallet {
                wallet_type: request.wallet_type,
                currency: request.currency,
                balance: balance.0,
                unsettled_interest: request.unsettled_interest.map_or_else(|| "0".to_owned(), |a| a.0),
                available: request.available.flatten().map(|a| a.0),
                last_change: request.last_change.flatten(),
            });
            let last = account.wallets.len() - 1;
            &mut account.wallets[last]
        }
    };
    let wallet = wallet.clone();
    let old_balance = before.as_ref().map_or("0", |w| w.balance.as_str());
    let change = Recorded { kind, price: price.as_deref(), counterpart: &counterpart, now_ms };
    let entry = match record(account, &wallet, old_balance, &change) {
        Ok(entry) => entry,
        Err(e) => {
            // Refused as a whole: the wallet goes back to what it was.
            match (before, found) {
                (Some(before), Some(index)) => {
                    if let Some(slot) = account.wallets.get_mut(index) {
                        *slot = before;
                    }
                }
                _ => {
                    account.wallets.pop();
                }
            }
            return Err(e);
        }
    };
    tracing::info!(account = %account.name, wallet = %wallet.wallet_type, currency = %wallet.currency, "admin: wallet changed");
    Ok(json!({
        "account": account.name,
        "type": wallet.wallet_type,
        "currency": wallet.currency,
        "balance": wallet.balance,
        "unsettled_interest": wallet.unsettled_interest,
        "available": wallet.available,
        "last_change": wallet.last_change,
        "ledger": entry.map(|e| entry_json(&e)),
    }))
}

/// How a balance change is written in the ledger.
struct Recorded<'a> {
    kind: Kind,
    price: Option<&'a str>,
    counterpart: &'a str,
    now_ms: i64,
}

/// Appends the ledger entry for `wallet`'s balance having moved from `old_balance`; `None` when
/// it did not move.
fn record(
    account: &mut Account,
    wallet: &Wallet,
    old_balance: &str,
    change: &Recorded<'_>,
) -> Result<Option<EntryView>, EditError> {
    let invalid = |e: String| EditError::Invalid(format!("wallet: {e}"));
    let old = parse_json_number(old_balance).map_err(|e| invalid(e.to_string()))?;
    let new = parse_json_number(&wallet.balance).map_err(|e| invalid(e.to_string()))?;
    let amount = exact_sub(new, old).map_err(|e| invalid(e.to_string()))?;
    if amount.is_zero() {
        return Ok(None);
    }
    let ledger = &mut account.ledger;
    let id = ledger.next_id().map_err(|e| invalid(e.to_string()))?;
    let description = describe(&Change {
        kind: change.kind,
        currency: &wallet.currency,
        wallet: &wallet.wallet_type,
        amount,
        id,
        price: change.price,
        counterpart: change.counterpart,
    });
    let entry = NewEntry {
        id,
        currency: &wallet.currency,
        wallet: &wallet.wallet_type,
        mts: change.now_ms,
        amount,
        balance: new,
        description: &description,
        // The balance exactly as the wallet serves it.
        texts: Some((format_decimal(amount), wallet.balance.clone())),
    };
    ledger.append(entry).map(Some).map_err(|e| invalid(e.to_string()))
}

/// A ledger entry in the admin API's answers.
pub(crate) fn entry_json(e: &EntryView) -> Value {
    json!({
        "id": e.id,
        "currency": e.currency,
        "wallet": e.wallet,
        "mts": e.mts,
        "amount": e.amount,
        "balance": e.balance,
        "description": e.description,
    })
}

/// `amount + delta`, exactly, as normalised text.
fn moved(amount: &str, delta: &str) -> Result<String, EditError> {
    let invalid = |e: bfx_core::number::NumberError| EditError::Invalid(format!("wallet: {e}"));
    let (a, d) = (parse_json_number(amount).map_err(invalid)?, parse_json_number(delta).map_err(invalid)?);
    // `Decimal` rounds a sum that needs more than its 28–29 digits; a narrower scale shows it did.
    match a.checked_add(d) {
        Some(sum) if sum.scale() >= a.scale().max(d.scale()) => Ok(format_decimal(sum)),
        _ => Err(EditError::Invalid(format!("wallet: {amount} + {delta} cannot be held exactly"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"
[[account]]
name = "main"
user_id = 1
email = "m@example.com"
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "1.5"
  unsettled_interest = "0"
  available = "1.2"
"#;

    fn state() -> SimState {
        SimState::from_toml(STATE, "s").unwrap()
    }

    fn wallet(state: &mut SimState, body: &str) -> Result<Value, EditError> {
        edit_wallet(state, body.as_bytes(), 1_000)
    }

    #[test]
    fn set_keeps_texts_and_unlisted_fields() {
        let mut state = state();
        let out =
            wallet(&mut state, r#"{"account":"main","type":"exchange","currency":"BTC","balance":"1.50"}"#);
        assert_eq!(
            out.unwrap(),
            json!({"account": "main", "type": "exchange", "currency": "BTC", "balance": "1.50",
                   "unsettled_interest": "0", "available": "1.2", "last_change": null, "ledger": null})
        );
        let out = wallet(
            &mut state,
            r#"{"account":"main","type":"exchange","currency":"BTC","balance":1e-8,"available":null,"last_change":"Deposit"}"#,
        );
        let out = out.unwrap();
        assert_eq!(
            (&out["balance"], &out["available"], &out["last_change"]),
            (&json!("1e-8"), &json!(null), &json!("Deposit"))
        );
        let out = wallet(
            &mut state,
            r#"{"account":"main","type":"funding","currency":"USD","balance":"100","available":"90"}"#,
        );
        assert_eq!(out.unwrap()["unsettled_interest"], "0");
        assert_eq!(state.accounts[0].wallets.len(), 2);
    }

    #[test]
    fn delta_moves_balance_and_available_exactly() {
        let mut state = state();
        let out =
            wallet(&mut state, r#"{"account":"main","type":"exchange","currency":"BTC","delta":"-0.1"}"#)
                .unwrap();
        assert_eq!((&out["balance"], &out["available"]), (&json!("1.4"), &json!("1.1")));
        let out = wallet(
            &mut state,
            r#"{"account":"main","type":"exchange","currency":"BTC","delta":"0.000000000000000001"}"#,
        )
        .unwrap();
        assert_eq!(out["balance"], "1.400000000000000001");
        let out = wallet(
            &mut state,
            r#"{"account":"main","type":"exchange","currency":"BTC","delta":-1.400000000000000001}"#,
        )
        .unwrap();
        assert_eq!((&out["balance"], &out["available"]), (&json!("0"), &json!("-0.3")));
        // A null available stays null.
        wallet(&mut state, r#"{"account":"main","type":"exchange","currency":"BTC","available":null}"#)
            .unwrap();
        let out =
            wallet(&mut state, r#"{"account":"main","type":"exchange","currency":"BTC","delta":"2e0"}"#)
                .unwrap();
        assert_eq!((&out["balance"], &out["available"]), (&json!("2"), &json!(null)));
    }

    #[test]
    fn balance_changes_append_ledger_entries_of_their_kind() {
        let mut state = state();
        let out = wallet(
            &mut state,
            r#"{"account":"main","type":"exchange","currency":"BTC","delta":"-0.1","kind":"withdrawal"}"#,
        )
        .unwrap();
        assert_eq!(
            out["ledger"],
            json!({"id": 1, "currency": "BTC", "wallet": "exchange", "mts": 1000, "amount": "-0.1",
                   "balance": "1.4", "description": "BTC Withdrawal #1 on wallet exchange"})
        );
        // A set appends the difference; the answer and the wallet agree on the balance text.
        let out = wallet(
            &mut state,
            r#"{"account":"main","type":"exchange","currency":"BTC","balance":"2.00","kind":"deposit"}"#,
        )
        .unwrap();
        assert_eq!((&out["ledger"]["amount"], &out["ledger"]["balance"]), (&json!("0.6"), &json!("2.00")));
        // A new wallet starts from 0; no kind is an adjustment.
        let out = wallet(&mut state, r#"{"account":"main","type":"funding","currency":"USD","balance":"5"}"#)
            .unwrap();
        assert_eq!(out["ledger"]["description"], "Adjustment on wallet funding");
        let out = wallet(
            &mut state,
            r#"{"account":"main","type":"funding","currency":"USD","delta":"-5","kind":"transfer","counterpart":"margin"}"#,
        )
        .unwrap();
        assert_eq!(
            out["ledger"]["description"],
            "Transfer of 5 USD from wallet Funding to Margin on wallet funding"
        );
        // Fields other than the balance write nothing.
        let out =
            wallet(&mut state, r#"{"account":"main","type":"exchange","currency":"BTC","available":"1"}"#)
                .unwrap();
        assert_eq!(out["ledger"], json!(null));
        let views = state.accounts[0].ledger.views();
        let ids: Vec<i64> = views.iter().map(|v| v.id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        assert!(matches!(
            wallet(&mut state, r#"{"account":"main","type":"exchange","currency":"BTC","delta":"1","kind":"gift"}"#),
            Err(EditError::Invalid(m)) if m.starts_with("wallet: unknown variant `gift`")
        ));
    }

    #[test]
    fn a_change_the_ledger_cannot_hold_is_refused_whole() {
        let mut state = state();
        let max = "79228162514264337593543950335";
        let set = |balance: &str| {
            format!(r#"{{"account":"main","type":"funding","currency":"BTC","balance":"{balance}"}}"#)
        };
        assert!(wallet(&mut state, &set(max)).is_ok());
        assert_eq!(state.accounts[0].ledger.len(), 1);
        // The entry's amount (-2 x max) cannot be held: refused, and the wallet is unchanged.
        let e = wallet(&mut state, &set(&format!("-{max}")));
        assert!(matches!(&e, Err(EditError::Invalid(m)) if m.ends_with("cannot be held exactly")), "{e:?}");
        assert_eq!(state.accounts[0].wallets[1].balance, max);
        assert_eq!(state.accounts[0].ledger.len(), 1);
    }

    #[test]
    fn bad_wallet_requests_say_why() {
        let mut state = state();
        let mut error = |body: &str| match wallet(&mut state, body) {
            Err(EditError::Invalid(m) | EditError::NotFound(m)) => m,
            Ok(v) => panic!("accepted: {v}"),
        };
        assert_eq!(
            error(r#"{"account":"nobody","type":"exchange","currency":"BTC","balance":"1"}"#),
            "wallet: unknown account \"nobody\"; known: main"
        );
        assert!(
            error(r#"{"account":"main","type":"exchange","currency":"BTC","balance":"1,5"}"#)
                .starts_with("wallet: \"1,5\" is not a JSON number")
        );
        assert!(
            error(r#"{"account":"main","type":"exchange","currency":"BTC","balance":"1e-40"}"#)
                .contains("more than 28 decimal places")
        );
        assert!(
            error(r#"{"account":"main","type":"exchange","currency":"BTC","colour":"red"}"#)
                .starts_with("wallet: unknown field `colour`")
        );
        assert_eq!(
            error(r#"{"account":"main","type":"exchange","currency":"ETH","delta":"1"}"#),
            "wallet: account \"main\" has no exchange wallet for ETH; set its balance first"
        );
        assert_eq!(
            error(r#"{"account":"main","type":"exchange","currency":"BTC","delta":"1","balance":"2"}"#),
            "wallet: give either delta or fields to set, not both"
        );
        assert_eq!(
            error(r#"{"account":"main","type":"exchange","currency":"ETH","available":"2"}"#),
            "wallet: a new wallet needs a balance (or use delta on an existing one)"
        );
        assert!(error(r#"{"account":"main","type":"exchange","currency":"BTC","delta":"79000000000000000000000000000"}"#)
            .ends_with("cannot be held exactly"));
        assert_eq!(
            error(
                r#"{"account":"main","type":"exchange","currency":"BTC","delta":"7.0000000000000000000000000001"}"#
            ),
            "wallet: 1.5 + 7.0000000000000000000000000001 cannot be held exactly"
        );
        assert!(matches!(
            wallet(&mut state, r#"{"account":"nobody","type":"exchange","currency":"BTC","balance":"1"}"#),
            Err(EditError::NotFound(_))
        ));
    }
}
