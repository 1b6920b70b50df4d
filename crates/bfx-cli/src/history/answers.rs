//! `bfx history balances|earnings|fees|flows`: answered from the store alone, as a table, one
//! JSON document or CSV. Every answer says whether the store covers what it was computed over
//! (`complete` and `missing` in JSON, a note under the table, a warning on stderr with CSV): an
//! incomplete total never looks complete.

use bfx_core::format_decimal;
use bfx_core::ledger::Group;
use bfx_store::history::{By, SumRow, Sums, rfc3339, unvouched};
use bfx_store::{EntryQuery, Order, Store};
use futures_util::TryStreamExt;
use serde::Serialize;

use super::{accounts_of, when};
use crate::cli::{RangeArgs, SplitBy};
use crate::config::ConfigError;
use crate::exit::Exit;
use crate::output::{Format, csv_field, exact, terminal_safe, write_stderr, write_stdout};
use crate::table::{Rows, layout};

/// A range of milliseconds from `--from`/`--to`.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Range {
    pub fn parse(args: &RangeArgs) -> Result<Range, ConfigError> {
        let from = args.from.as_deref().map(|t| when(t, bfx_store::history::Edge::Start)).transpose()?;
        let to = args.to.as_deref().map(|t| when(t, bfx_store::history::Edge::End)).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ConfigError::Invalid(format!("--from {} is after --to {}", rfc3339(f), rfc3339(t))));
        }
        Ok(Range { from, to })
    }

    /// The entries of `accounts` in this range, oldest first.
    pub fn query(&self, accounts: &[String]) -> EntryQuery {
        EntryQuery { accounts: accounts.to_vec(), from_mts: self.from, to_mts: self.to, order: Order::Time }
    }
}

/// A part of the asked range the store does not hold completely.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub account: String,
    pub from_mts: i64,
    /// `null` when open-ended (the account was never synced).
    pub to_mts: Option<i64>,
    pub from: String,
    pub to: Option<String>,
}

/// Whether an answer covers what it was asked over.
#[derive(Debug, Clone, Serialize)]
pub struct Completeness {
    pub complete: bool,
    pub missing: Vec<Missing>,
}

impl Completeness {
    /// From the store's coverage of each account over `from..=to` (`to = None`: as far as stored).
    pub async fn of(
        store: &Store,
        accounts: &[String],
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Completeness, bfx_store::StoreError> {
        let mut missing = Vec::new();
        for account in accounts {
            let covered = store.coverage(account).await?;
            for gap in unvouched(from.unwrap_or(0), to, &covered) {
                let open = gap.to_mts == i64::MAX;
                missing.push(Missing {
                    account: account.clone(),
                    from_mts: gap.from_mts,
                    to_mts: (!open).then_some(gap.to_mts),
                    from: rfc3339(gap.from_mts),
                    to: (!open).then(|| rfc3339(gap.to_mts)),
                });
            }
        }
        Ok(Completeness { complete: missing.is_empty(), missing })
    }

    /// One line per missing part, for under a table or on stderr.
    pub fn notes(&self) -> String {
        let mut out = String::new();
        for m in &self.missing {
            let what = match &m.to {
                None => format!("account {:?} has never been synced", m.account),
                Some(to) => format!("account {:?} is not synced from {} to {to}", m.account, m.from),
            };
            out.push_str(&format!(
                "INCOMPLETE: {}; the answer leaves out what happened there (run: bfx history sync)\n",
                terminal_safe(&what)
            ));
        }
        out
    }
}

/// A balance at a moment, as printed.
#[derive(Debug, Serialize)]
struct BalanceRow {
    account: String,
    wallet: String,
    currency: String,
    balance: String,
    /// The entry the balance comes from.
    mts: i64,
    time: String,
    id: i64,
}

#[derive(Debug, Serialize)]
struct BalancesDoc<'a> {
    at: String,
    at_mts: i64,
    balances: &'a [BalanceRow],
    #[serde(flatten)]
    completeness: &'a Completeness,
}

/// `bfx history balances --at WHEN`.
pub async fn balances(store: &Store, named: &[String], at: i64, format: Format) -> anyhow::Result<Exit> {
    let accounts = accounts_of(store, named).await?;
    let rows: Vec<BalanceRow> = match accounts.is_empty() {
        true => Vec::new(),
        false => store.balances_at(&accounts, at).await?,
    }
    .into_iter()
    .filter(|b| !b.balance.is_zero())
    .map(|b| BalanceRow {
        account: b.account,
        wallet: b.wallet,
        currency: b.currency,
        balance: format_decimal(b.balance),
        mts: b.mts,
        time: rfc3339(b.mts),
        id: b.id,
    })
    .collect();
    let completeness = Completeness::of(store, &accounts, None, Some(at)).await?;
    let out = match format {
        Format::Json => {
            json(&BalancesDoc { at: rfc3339(at), at_mts: at, balances: &rows, completeness: &completeness })
        }
        Format::Csv => {
            write_stderr(&completeness.notes());
            let mut out = String::from("account,wallet,currency,balance,mts,time,id\n");
            for r in &rows {
                let fields = [
                    csv_field(&r.account),
                    csv_field(&r.wallet),
                    csv_field(&r.currency),
                    r.balance.clone(),
                    r.mts.to_string(),
                    r.time.clone(),
                    r.id.to_string(),
                ];
                out.push_str(&fields.join(","));
                out.push('\n');
            }
            out
        }
        Format::Table => {
            let header = ["ACCOUNT", "WALLET", "CURRENCY", "BALANCE", "SINCE"].map(str::to_owned).to_vec();
            let table: Rows = rows
                .iter()
                .map(|r| {
                    let balance = r.balance.parse().map_or_else(|_| r.balance.clone(), exact);
                    vec![r.account.clone(), r.wallet.clone(), r.currency.clone(), balance, r.time.clone()]
                })
                .collect();
            let mut out =
                format!("Balances at {} (each from the wallet's last entry at or before it)\n", rfc3339(at));
            match table.is_empty() {
                true => out.push_str("(no balances other than zero)\n"),
                false => out.push_str(&layout(header, table, &[3])),
            }
            out.push_str(&completeness.notes());
            out
        }
    };
    write_stdout(&out)?;
    Ok(Exit::Ok)
}

/// One section of a sums answer (`earnings`, `fees`, `flows`, `transfers`).
struct Section {
    name: &'static str,
    group: Group,
    by: By,
}

#[derive(Debug, Serialize)]
struct SumOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    month: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wallet: Option<String>,
    currency: String,
    category: u16,
    category_name: &'static str,
    entries: u64,
    amount: String,
}

impl From<SumRow> for SumOut {
    fn from(r: SumRow) -> SumOut {
        SumOut {
            month: r.month,
            wallet: r.wallet,
            currency: r.currency,
            category: r.category,
            category_name: r.category_name,
            entries: r.entries,
            amount: format_decimal(r.amount),
        }
    }
}

/// `bfx history earnings`.
pub async fn earnings(
    store: &Store,
    named: &[String],
    range: Range,
    by: SplitBy,
    format: Format,
) -> anyhow::Result<Exit> {
    let by = match by {
        SplitBy::Currency => By::Currency,
        SplitBy::Month => By::Month,
    };
    sums(store, named, range, &[Section { name: "earnings", group: Group::Earning, by }], format).await
}

/// `bfx history fees`.
pub async fn fees(store: &Store, named: &[String], range: Range, format: Format) -> anyhow::Result<Exit> {
    let section = Section { name: "fees", group: Group::Fee, by: By::Currency };
    sums(store, named, range, &[section], format).await
}

/// `bfx history flows`: deposits and withdrawals, and transfers between wallets apart (per wallet:
/// summed per currency they would cancel out).
pub async fn flows(store: &Store, named: &[String], range: Range, format: Format) -> anyhow::Result<Exit> {
    let sections = [
        Section { name: "flows", group: Group::Flow, by: By::Currency },
        Section { name: "transfers", group: Group::Transfer, by: By::Wallet },
    ];
    sums(store, named, range, &sections, format).await
}

/// Streams the range's entries once through one running sum per section.
async fn sums(
    store: &Store,
    named: &[String],
    range: Range,
    sections: &[Section],
    format: Format,
) -> anyhow::Result<Exit> {
    let accounts = accounts_of(store, named).await?;
    let mut running: Vec<Sums> = sections.iter().map(|s| Sums::new(s.group, s.by)).collect();
    if !accounts.is_empty() {
        let mut entries = store.entries(range.query(&accounts));
        while let Some(entry) = entries.try_next().await? {
            for sums in &mut running {
                sums.add(&entry)?;
            }
        }
    }
    let results: Vec<(&Section, Vec<SumOut>)> = sections
        .iter()
        .zip(running)
        .map(|(s, sums)| (s, sums.rows().into_iter().map(SumOut::from).collect()))
        .collect();
    let completeness = Completeness::of(store, &accounts, range.from, range.to).await?;
    let out = match format {
        Format::Json => {
            let mut doc = serde_json::Map::new();
            doc.insert("from".into(), range.from.map(rfc3339).into());
            doc.insert("to".into(), range.to.map(rfc3339).into());
            doc.insert("accounts".into(), serde_json::to_value(&accounts)?);
            for (section, rows) in &results {
                doc.insert(section.name.into(), serde_json::to_value(rows)?);
            }
            doc.insert("complete".into(), completeness.complete.into());
            doc.insert("missing".into(), serde_json::to_value(&completeness.missing)?);
            json(&doc)
        }
        Format::Csv => {
            write_stderr(&completeness.notes());
            let mut out =
                String::from("section,month,wallet,currency,category,category_name,entries,amount\n");
            for (section, rows) in &results {
                for r in rows {
                    let fields = [
                        section.name.to_owned(),
                        r.month.clone().unwrap_or_default(),
                        csv_field(r.wallet.as_deref().unwrap_or_default()),
                        csv_field(&r.currency),
                        r.category.to_string(),
                        csv_field(r.category_name),
                        r.entries.to_string(),
                        r.amount.clone(),
                    ];
                    out.push_str(&fields.join(","));
                    out.push('\n');
                }
            }
            out
        }
        Format::Table => {
            let mut out = format!(
                "From {} to {}\n",
                range.from.map_or_else(|| "the beginning".to_owned(), rfc3339),
                range.to.map_or_else(|| "the last sync".to_owned(), rfc3339)
            );
            for (section, rows) in &results {
                out.push('\n');
                out.push_str(&section_table(section, rows));
            }
            out.push_str(&completeness.notes());
            out
        }
    };
    write_stdout(&out)?;
    Ok(Exit::Ok)
}

fn section_table(section: &Section, rows: &[SumOut]) -> String {
    let title = match section.name {
        "earnings" => "Earnings (lending, staking, rebates)",
        "fees" => "Fees (negative: paid)",
        "flows" => "Deposits and withdrawals",
        _ => "Transfers between wallets",
    };
    if rows.is_empty() {
        return format!("{title}: none\n");
    }
    let mut header: Vec<String> = Vec::new();
    let first = match section.by {
        By::Month => Some("MONTH"),
        By::Wallet => Some("WALLET"),
        By::Currency => None,
    };
    header.extend(first.map(str::to_owned));
    header.extend(["CURRENCY", "CATEGORY", "ENTRIES", "AMOUNT"].map(str::to_owned));
    let table: Rows = rows
        .iter()
        .map(|r| {
            let mut row: Vec<String> = Vec::new();
            row.extend(r.month.clone().or_else(|| r.wallet.clone()));
            let value = r.amount.parse().map_or_else(|_| r.amount.clone(), exact);
            row.extend([
                r.currency.clone(),
                format!("{} {}", r.category, r.category_name),
                r.entries.to_string(),
                value,
            ]);
            row
        })
        .collect();
    let last = header.len() - 1;
    format!("{title}\n{}", layout(header, table, &[last - 1, last]))
}

fn json(value: &impl Serialize) -> String {
    // Plain structs of strings and numbers: serialising cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
