//! `bfx history export`: the stored ledger, streamed row by row (bounded memory whatever its
//! size), as CSV or as a JSON array, with the documented stable columns:
//! `account,id,mts,time,currency,wallet,category,amount,balance,description`.

use std::io::{BufWriter, Write};

use bfx_core::format_decimal;
use bfx_store::history::rfc3339;
use bfx_store::{Store, StoredEntry};
use futures_util::TryStreamExt;
use serde::Serialize;

use super::accounts_of;
use super::answers::{Completeness, Range};
use crate::exit::Exit;
use crate::output::{Format, csv_field, write_stderr};

/// The columns, in order (README "History": the export).
pub const COLUMNS: &str = "account,id,mts,time,currency,wallet,category,amount,balance,description";

/// One exported entry (the JSON object; the CSV row has the same fields in the same order).
#[derive(Debug, Serialize)]
struct Row<'a> {
    account: &'a str,
    id: i64,
    mts: i64,
    time: String,
    currency: &'a str,
    wallet: &'a str,
    /// Bitfinex's category code; `null` when the description is of no known form.
    category: Option<u16>,
    amount: String,
    balance: String,
    description: &'a str,
}

impl<'a> Row<'a> {
    fn of(stored: &'a StoredEntry) -> Row<'a> {
        let e = &stored.entry;
        Row {
            account: &stored.account,
            id: e.id,
            mts: e.mts,
            time: rfc3339(e.mts),
            currency: &e.currency,
            wallet: &e.wallet,
            category: stored.category.map(|c| c.0),
            amount: format_decimal(e.amount),
            balance: format_decimal(e.balance),
            description: &e.description,
        }
    }

    fn csv(&self) -> String {
        let fields = [
            csv_field(self.account),
            self.id.to_string(),
            self.mts.to_string(),
            self.time.clone(),
            csv_field(self.currency),
            csv_field(self.wallet),
            self.category.map(|c| c.to_string()).unwrap_or_default(),
            self.amount.clone(),
            self.balance.clone(),
            csv_field(self.description),
        ];
        let mut line = fields.join(",");
        line.push('\n');
        line
    }
}

/// Writes the export to stdout as it is read from the store.
pub async fn run(store: &Store, named: &[String], range: Range, format: Format) -> anyhow::Result<Exit> {
    let accounts = accounts_of(store, named).await?;
    // Said before the rows, so it is not lost after a long output.
    let completeness = Completeness::of(store, &accounts, range.from, range.to).await?;
    write_stderr(&completeness.notes());
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let json = format == Format::Json;
    match json {
        true => out.write_all(b"[")?,
        false => out.write_all(format!("{COLUMNS}\n").as_bytes())?,
    }
    let mut first = true;
    if !accounts.is_empty() {
        let mut entries = store.entries(range.query(&accounts));
        while let Some(stored) = entries.try_next().await? {
            let row = Row::of(&stored);
            if json {
                out.write_all(if first { b"\n  " } else { b",\n  " })?;
                serde_json::to_writer(&mut out, &row)?;
            } else {
                out.write_all(row.csv().as_bytes())?;
            }
            first = false;
        }
    }
    if json {
        out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
    }
    out.flush()?;
    Ok(Exit::Ok)
}
