//! `bfx history check`: reconciles the store with the exchange, per account: the newest stored
//! balance of every wallet against `auth/r/wallets` (`check_wallets`), every entry's balance
//! against the previous one plus its amount (`check_chain`, streamed in chain order), entries of
//! unknown categories, and the possible gaps syncs recorded. Exit 5 when anything disagrees.

use bfx_client::Client;
use bfx_core::format_decimal;
use bfx_store::history::{ChainCheck, Finding, check_wallets, rfc3339};
use bfx_store::{EntryQuery, Order, Store, StoredEntry};
use futures_util::TryStreamExt;
use serde::Serialize;

use super::readers;
use crate::config::Account;
use crate::exit::{Exit, diagnose};
use crate::output::{Format, csv_field, terminal_safe, write_stderr, write_stdout};

/// Unknown-category descriptions shown per account (the count is always complete).
const EXAMPLES: usize = 5;
/// Chain differences kept per account (the count is always complete).
const MAX_FINDINGS: usize = 100;

#[derive(Debug, Serialize)]
struct EntryOut {
    id: i64,
    mts: i64,
    time: String,
    amount: String,
    balance: String,
    description: String,
}

impl EntryOut {
    fn of(stored: &StoredEntry) -> EntryOut {
        let e = &stored.entry;
        EntryOut {
            id: e.id,
            mts: e.mts,
            time: rfc3339(e.mts),
            amount: format_decimal(e.amount),
            balance: format_decimal(e.balance),
            description: e.description.clone(),
        }
    }
}

/// One difference, as printed.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Difference {
    /// `entry`'s balance is not `previous`'s balance + its amount.
    Chain { wallet: String, currency: String, expected: String, previous: EntryOut, entry: EntryOut },
    /// The newest stored balance is not the exchange's now.
    Wallet {
        wallet: String,
        currency: String,
        stored: Option<String>,
        now: Option<String>,
        /// The stored entry the balance comes from.
        newest: Option<EntryOut>,
    },
}

#[derive(Debug, Serialize)]
struct GapOut {
    mts: i64,
    time: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Unknown {
    count: u64,
    examples: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ErrorOut {
    message: String,
    hint: Option<String>,
}

#[derive(Debug, Serialize)]
struct AccountCheck {
    account: String,
    ok: bool,
    wallets_compared: usize,
    entries_checked: u64,
    differences_total: u64,
    differences: Vec<Difference>,
    unknown_categories: Unknown,
    gaps: Vec<GapOut>,
    never_synced: bool,
    error: Option<ErrorOut>,
}

/// Checks every account, prints, and picks the exit code.
pub async fn run(
    client: &Client,
    accounts: &[Account],
    store: &Store,
    format: Format,
) -> anyhow::Result<Exit> {
    let mut checks = Vec::new();
    let mut failed: Vec<Exit> = Vec::new();
    for (account, reader) in accounts.iter().zip(readers(accounts)) {
        let check = check_account(client, store, &reader, &account.secret_source).await?;
        if let Some(error) = &check.1 {
            failed.push(*error);
        }
        checks.push(check.0);
    }
    let all_ok = checks.iter().all(|c| c.ok);
    let out = match format {
        Format::Json => {
            let doc = serde_json::json!({ "ok": all_ok, "accounts": checks });
            format!("{}\n", serde_json::to_string_pretty(&doc)?)
        }
        Format::Csv => csv(&checks),
        Format::Table => text(&checks),
    };
    write_stdout(&out)?;
    let mut errors = String::new();
    for c in &checks {
        if let Some(e) = &c.error {
            errors.push_str(&format!("error: account {:?}: {}\n", c.account, terminal_safe(&e.message)));
            if let Some(hint) = &e.hint {
                errors.push_str(&format!("  hint: {}\n", terminal_safe(hint)));
            }
        }
    }
    write_stderr(&errors);
    Ok(match failed.first() {
        Some(first) if failed.len() == accounts.len() => *first,
        Some(_) => Exit::Partial,
        None if all_ok => Exit::Ok,
        None => Exit::Partial,
    })
}

/// One account's check, and the exit code of an exchange failure (the store is checked anyway).
async fn check_account(
    client: &Client,
    store: &Store,
    account: &bfx_client::Account,
    secret_source: &str,
) -> anyhow::Result<(AccountCheck, Option<Exit>)> {
    let name = account.name.clone();
    let mut differences = Vec::new();
    let mut total = 0u64;
    let (mut error, mut exit, mut wallets_compared) = (None, None, 0);
    let stored = store.balances_at(std::slice::from_ref(&name), i64::MAX).await?;
    match client.wallets(&account.credentials).await {
        Ok(rows) => {
            let now: Vec<_> = rows
                .iter()
                .map(|w| (w.wallet_type.as_str().to_owned(), w.currency.clone(), w.balance))
                .collect();
            wallets_compared = now.len();
            for finding in check_wallets(&name, &stored, &now) {
                total += 1;
                if let Finding::Wallet { wallet, currency, stored: s, now, .. } = finding {
                    let newest = match stored.iter().find(|b| b.wallet == wallet && b.currency == currency) {
                        Some(b) => store_entry(store, &name, b.id, b.mts).await?,
                        None => None,
                    };
                    differences.push(Difference::Wallet {
                        wallet,
                        currency,
                        stored: s.map(format_decimal),
                        now: now.map(format_decimal),
                        newest,
                    });
                }
            }
        }
        Err(e) => {
            let d = diagnose(&e, secret_source);
            error = Some(ErrorOut { message: d.message, hint: d.hint });
            exit = Some(Exit::for_kind(e.kind()));
        }
    }
    let mut chain = ChainCheck::default();
    let mut checked = 0u64;
    let mut unknown = Unknown { count: 0, examples: Vec::new() };
    let query = EntryQuery { accounts: vec![name.clone()], order: Order::Chain, ..EntryQuery::default() };
    let mut entries = store.entries(query);
    while let Some(stored) = entries.try_next().await? {
        checked += 1;
        if stored.category.is_none() {
            unknown.count += 1;
            if unknown.examples.len() < EXAMPLES && !unknown.examples.contains(&stored.entry.description) {
                unknown.examples.push(stored.entry.description.clone());
            }
        }
        if let Some(Finding::Chain { wallet, currency, expected, previous, entry, .. }) = chain.push(stored) {
            total += 1;
            if differences.len() < MAX_FINDINGS {
                differences.push(Difference::Chain {
                    wallet,
                    currency,
                    expected: format_decimal(expected),
                    previous: EntryOut::of(&previous),
                    entry: EntryOut::of(&entry),
                });
            }
        }
    }
    let gaps: Vec<GapOut> = store
        .gaps(Some(&name))
        .await?
        .into_iter()
        .map(|g| GapOut { mts: g.mts, time: rfc3339(g.mts), reason: g.reason })
        .collect();
    let never_synced = store.coverage(&name).await?.is_empty();
    let ok = error.is_none() && total == 0 && gaps.is_empty() && !never_synced;
    let check = AccountCheck {
        account: name,
        ok,
        wallets_compared,
        entries_checked: checked,
        differences_total: total,
        differences,
        unknown_categories: unknown,
        gaps,
        never_synced,
        error,
    };
    Ok((check, exit))
}

/// The stored entry `id` of `account` at `mts` (the one a stored balance comes from).
async fn store_entry(store: &Store, account: &str, id: i64, mts: i64) -> anyhow::Result<Option<EntryOut>> {
    let query = EntryQuery {
        accounts: vec![account.to_owned()],
        from_mts: Some(mts),
        to_mts: Some(mts),
        order: Order::Time,
    };
    let entries: Vec<StoredEntry> = store.entries(query).try_collect().await?;
    Ok(entries.iter().find(|e| e.entry.id == id).map(EntryOut::of))
}

fn text(checks: &[AccountCheck]) -> String {
    let mut out = String::new();
    for c in checks {
        let status = match (c.ok, &c.error) {
            (true, _) => "OK".to_owned(),
            (false, Some(_)) => "FAILED (see below)".to_owned(),
            (false, None) if c.never_synced => "NEVER SYNCED (run: bfx history sync)".to_owned(),
            (false, None) => format!("{} DIFFERENCE(S)", c.differences_total + c.gaps.len() as u64),
        };
        out.push_str(&format!("{}: {status}\n", terminal_safe(&c.account)));
        out.push_str(&format!(
            "  wallets: {} compared with auth/r/wallets; chain: {} stored entries checked\n",
            c.wallets_compared, c.entries_checked
        ));
        for d in &c.differences {
            out.push_str(&terminal_safe(&describe(d)));
        }
        if c.differences_total > c.differences.len() as u64 {
            out.push_str(&format!("  … and {} more\n", c.differences_total - c.differences.len() as u64));
        }
        for g in &c.gaps {
            out.push_str(&format!("  possible gap at {}: {}\n", g.time, terminal_safe(&g.reason)));
        }
        if c.unknown_categories.count > 0 {
            out.push_str(&format!(
                "  {} entries of unknown category (not counted in earnings, fees or flows), e.g.: {}\n",
                c.unknown_categories.count,
                c.unknown_categories
                    .examples
                    .iter()
                    .map(|e| format!("{:?}", terminal_safe(e)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    out
}

fn describe(d: &Difference) -> String {
    match d {
        Difference::Chain { wallet, currency, expected, previous, entry } => format!(
            "  {wallet} {currency}: entry #{} at {} has balance {} but the previous entry #{} at {} (balance {}) plus its amount {} gives {expected}: an entry between them is missing or wrong\n    before: {}\n    this:   {}\n",
            entry.id,
            entry.time,
            entry.balance,
            previous.id,
            previous.time,
            previous.balance,
            entry.amount,
            previous.description,
            entry.description
        ),
        Difference::Wallet { wallet, currency, stored, now, newest } => format!(
            "  {wallet} {currency}: the store says {} but auth/r/wallets says {}{}\n",
            stored.as_deref().unwrap_or("nothing (0)"),
            now.as_deref().unwrap_or("nothing (0)"),
            newest.as_ref().map_or_else(String::new, |e| format!(
                " (newest stored entry #{} at {}: {} {})",
                e.id, e.time, e.amount, e.description
            ))
        ),
    }
}

fn csv(checks: &[AccountCheck]) -> String {
    let mut out = String::from("account,kind,wallet,currency,id,mts,time,expected,actual,description\n");
    let mut row = |fields: [String; 10]| {
        out.push_str(&fields.join(","));
        out.push('\n');
    };
    for c in checks {
        for d in &c.differences {
            match d {
                Difference::Chain { wallet, currency, expected, entry, .. } => row([
                    csv_field(&c.account),
                    "chain".into(),
                    csv_field(wallet),
                    csv_field(currency),
                    entry.id.to_string(),
                    entry.mts.to_string(),
                    entry.time.clone(),
                    expected.clone(),
                    entry.balance.clone(),
                    csv_field(&entry.description),
                ]),
                Difference::Wallet { wallet, currency, stored, now, newest } => row([
                    csv_field(&c.account),
                    "wallet".into(),
                    csv_field(wallet),
                    csv_field(currency),
                    newest.as_ref().map(|e| e.id.to_string()).unwrap_or_default(),
                    newest.as_ref().map(|e| e.mts.to_string()).unwrap_or_default(),
                    newest.as_ref().map(|e| e.time.clone()).unwrap_or_default(),
                    now.clone().unwrap_or_default(),
                    stored.clone().unwrap_or_default(),
                    csv_field(newest.as_ref().map_or("", |e| e.description.as_str())),
                ]),
            }
        }
        for g in &c.gaps {
            row([
                csv_field(&c.account),
                "gap".into(),
                String::new(),
                String::new(),
                String::new(),
                g.mts.to_string(),
                g.time.clone(),
                String::new(),
                String::new(),
                csv_field(&g.reason),
            ]);
        }
    }
    out
}
