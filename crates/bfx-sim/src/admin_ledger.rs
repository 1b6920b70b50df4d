//! The admin API's bulk ledger generation, `POST /sim/ledger`: N deterministic entries for one
//! wallet, continuing its chain from its balance and leaving it at the last entry's balance, for
//! tests (pagination across many entries, many entries on one millisecond) and benchmarks.
//!
//! `{"account","currency","wallet","count","from_mts","to_mts","same_mts"}`: `to_mts` defaults to
//! now, `from_mts` to `to_mts`; `same_mts` (default 1) consecutive entries share each MTS, so
//! `from_mts == to_mts` (or a large `same_mts`) puts them all on one millisecond.

use bfx_core::{format_decimal, parse_json_number};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin_edit::EditError;
use crate::ledger::{MAX_EXACT, Synthetic, exact_sub};
use crate::ledger_text::{Change, Kind, describe};
use crate::state::SimState;

/// Entries one request may add (1 000 000 take well under a second in a release build).
pub(crate) const MAX_COUNT: usize = 5_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkRequest {
    account: String,
    currency: String,
    wallet: String,
    count: usize,
    from_mts: Option<i64>,
    to_mts: Option<i64>,
    same_mts: Option<usize>,
}

/// Appends the entries and moves the wallet (and its available amount, unless null) to the last
/// balance. The wallet must exist (set its balance first, as for a `delta`).
pub(crate) fn generate(state: &mut SimState, body: &[u8], now_ms: i64) -> Result<Value, EditError> {
    let invalid = |m: String| EditError::Invalid(format!("ledger: {m}"));
    let request: BulkRequest = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    if !(1..=MAX_COUNT).contains(&request.count) {
        return Err(invalid(format!("count must be 1 to {MAX_COUNT}, found {}", request.count)));
    }
    let to_mts = request.to_mts.unwrap_or(now_ms);
    let from_mts = request.from_mts.unwrap_or(to_mts);
    if !(0 <= from_mts && from_mts <= to_mts && to_mts <= MAX_EXACT) {
        return Err(invalid(format!(
            "need 0 <= from_mts <= to_mts <= 2^53 - 1, found from_mts {from_mts}, to_mts {to_mts}"
        )));
    }
    let same_mts = request.same_mts.unwrap_or(1);
    if same_mts == 0 {
        return Err(invalid("same_mts must be at least 1".to_owned()));
    }
    let known: Vec<&str> = state.accounts.iter().map(|a| a.name.as_str()).collect();
    let known = known.join(", ");
    let account = state.accounts.iter_mut().find(|a| a.name == request.account).ok_or_else(|| {
        EditError::NotFound(format!("ledger: unknown account {:?}; known: {known}", request.account))
    })?;
    let wallet = account
        .wallets
        .iter_mut()
        .find(|w| w.wallet_type == request.wallet && w.currency == request.currency)
        .ok_or_else(|| {
            EditError::NotFound(format!(
                "ledger: account {:?} has no {} wallet for {}; set its balance first",
                request.account, request.wallet, request.currency
            ))
        })?;
    let start = parse_json_number(&wallet.balance).map_err(|e| invalid(e.to_string()))?;
    let text = |kind| {
        describe(&Change {
            kind,
            currency: &request.currency,
            wallet: &request.wallet,
            amount: rust_decimal::Decimal::ONE,
            id: 0,
            price: None,
            counterpart: "exchange",
        })
    };
    let descriptions = [text(Kind::FundingPayment), text(Kind::WithdrawalFee)];
    let run = Synthetic {
        currency: &request.currency,
        wallet: &request.wallet,
        count: request.count,
        from_mts,
        to_mts,
        same_mts,
        descriptions: [&descriptions[0], &descriptions[1]],
    };
    let generated = account.ledger.generate(&run, start).map_err(|e| invalid(e.to_string()))?;
    let moved = exact_sub(generated.balance, start).map_err(|e| invalid(e.to_string()))?;
    let available = match wallet.available.as_deref().map(parse_json_number).transpose() {
        Ok(available) => available.and_then(|a| a.checked_add(moved)).map(format_decimal),
        Err(e) => return Err(invalid(e.to_string())),
    };
    wallet.balance = format_decimal(generated.balance);
    if wallet.available.is_some() {
        wallet.available = available;
    }
    tracing::info!(account = %request.account, count = request.count, "admin: ledger entries generated");
    Ok(json!({
        "account": request.account,
        "currency": request.currency,
        "wallet": request.wallet,
        "count": request.count,
        "first_id": generated.first_id,
        "last_id": generated.last_id,
        "from_mts": from_mts,
        "to_mts": to_mts,
        "balance": wallet.balance,
        "entries": account.ledger.len(),
    }))
}
