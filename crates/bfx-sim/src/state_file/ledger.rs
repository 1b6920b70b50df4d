//! `[[account.ledger]]`: an account's ledger entries in a state file, kept verbatim.
//!
//! Every field is required; amounts are JSON number texts (as wallet balances are) and are served
//! as written. Refused with file and line: a missing or unknown field, a bad number, an id used
//! twice in one account, an id or MTS outside 0..2^53. The chain is deliberately not checked
//! (balance = previous balance + amount): tests load inconsistent ledgers to test reconciliation.

use std::collections::HashMap;

use bfx_core::parse_json_number;
use serde::Deserialize;
use toml::Spanned;

use super::check::{Refused, number};
use crate::ledger::{Ledger, MAX_ENTRIES, MAX_EXACT, NewEntry};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LedgerFile {
    id: Spanned<i64>,
    currency: Spanned<String>,
    wallet: Spanned<String>,
    mts: Spanned<i64>,
    amount: Spanned<String>,
    balance: Spanned<String>,
    description: Spanned<String>,
}

/// One account's ledger. `line_of` turns an offset in the file's text into its line.
pub(super) fn ledger(
    account: &str,
    files: Vec<LedgerFile>,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Ledger, Refused> {
    if files.len() > MAX_ENTRIES {
        return Err(Refused::new(
            files.first().map(|f| f.id.span()).unwrap_or_default(),
            format!("account {account:?} has more than {MAX_ENTRIES} ledger entries"),
        ));
    }
    let mut ids: HashMap<i64, usize> = HashMap::with_capacity(files.len());
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        let id_span = file.id.span();
        let id = *file.id.get_ref();
        let what = |field: &str| format!("ledger entry {id} of account {account:?}: {field}");
        if !(1..=MAX_EXACT).contains(&id) {
            return Err(Refused::new(id_span, format!("{}: must be 1 to 2^53 - 1, found {id}", what("id"))));
        }
        if let Some(first) = ids.insert(id, line_of(id_span.start)) {
            return Err(Refused::new(
                id_span,
                format!("duplicate ledger id {id} in account {account:?} (first at line {first})"),
            ));
        }
        let mts = *file.mts.get_ref();
        if !(0..=MAX_EXACT).contains(&mts) {
            return Err(Refused::new(
                file.mts.span(),
                format!("{}: must be 0 to 2^53 - 1 (milliseconds), found {mts}", what("mts")),
            ));
        }
        let non_empty = |value: Spanned<String>, field: &str| {
            if value.get_ref().trim().is_empty() {
                return Err(Refused::new(value.span(), format!("{} is empty", what(field))));
            }
            Ok(value.into_inner())
        };
        let currency = non_empty(file.currency, "currency")?;
        let wallet = non_empty(file.wallet, "wallet")?;
        let description = non_empty(file.description, "description")?;
        let amount = number(file.amount, &what("amount"))?;
        let balance = number(file.balance, &what("balance"))?;
        entries.push((id, currency, wallet, mts, amount, balance, description));
    }
    let mut ledger = Ledger::default();
    let new = entries.iter().filter_map(|(id, currency, wallet, mts, amount, balance, description)| {
        // Both texts passed `number` above: they parse.
        Some(NewEntry {
            id: *id,
            currency,
            wallet,
            mts: *mts,
            amount: parse_json_number(amount).ok()?,
            balance: parse_json_number(balance).ok()?,
            description,
            texts: Some((amount.clone(), balance.clone())),
        })
    });
    ledger.extend(new).map_err(|e| Refused::new(0..0, format!("account {account:?}: {e}")))?;
    Ok(ledger)
}
