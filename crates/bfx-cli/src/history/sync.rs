//! `bfx history sync`: each account's ledger into the store (`bfx_store::sync_account`), one
//! account after another (they share one rate budget). A progress line on a terminal (entries,
//! pages, the date reached, rate-limit waits), quiet when piped (`-v` logs each page); a one-line
//! summary per account at the end. Every page is stored in its own transaction, so whatever stops
//! the run (a failure, `--no-wait` on a 429, Ctrl-C, a kill) keeps what was stored, and the next
//! run completes it.

use std::io::IsTerminal;
use std::time::Duration;

use bfx_client::{Client, ErrorKind};
use bfx_store::history::rfc3339;
use bfx_store::{Progress, Store, SyncError, Synced, sync_account};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{readers, store_exit};
use crate::config::Account;
use crate::exit::{Exit, diagnose};
use crate::output::{terminal_safe, write_stderr, write_stdout};

/// Syncs `accounts` up to now. `summary`: print the per-account summary on stdout (not when the
/// sync only prepares another command, as in `bfx demo history earnings`).
pub async fn run(
    client: &Client,
    accounts: &[Account],
    store: &Store,
    since: Option<i64>,
    summary: bool,
) -> anyhow::Result<Exit> {
    let now_ms = now_ms();
    let mut lines = String::new();
    let mut failures: Vec<Exit> = Vec::new();
    let mut stopped = false;
    for (account, reader) in accounts.iter().zip(readers(accounts)) {
        let bar = Bar::start(format!("{}: reading the ledger…", terminal_safe(&account.name)));
        let name = account.name.clone();
        let shown = bar.clone();
        let on_page = move |p: &Progress| {
            tracing::info!(
                account = %name,
                pages = p.pages,
                fetched = p.fetched,
                new = p.inserted,
                reached = %p.reached.map(rfc3339).unwrap_or_default(),
                "history sync: page stored"
            );
            shown.say(|| {
                format!(
                    "{}: {} entries fetched, {} new, {} pages, back to {}",
                    terminal_safe(&name),
                    p.fetched,
                    p.inserted,
                    p.pages,
                    p.reached.map(rfc3339).unwrap_or_default()
                )
            });
        };
        let result = tokio::select! {
            result = sync_account(client, store, &reader, since, now_ms, on_page) => result,
            _ = tokio::signal::ctrl_c() => {
                bar.finish();
                write_stdout(&lines)?;
                write_stderr(&format!(
                    "bfx: interrupted while syncing {:?}; the pages already stored are kept: run `bfx history sync` again to complete it\n",
                    account.name
                ));
                return Ok(Exit::Interrupted);
            }
        };
        bar.finish();
        match result {
            Ok(synced) => lines.push_str(&summary_line(store, &account.name, &synced).await?),
            Err(SyncError::Client(error)) => {
                let d = diagnose(&error, &account.secret_source);
                let mut text = format!("error: account {:?}: {}\n", account.name, terminal_safe(&d.message));
                if let Some(hint) = &d.hint {
                    text.push_str(&format!("  hint: {}\n", terminal_safe(hint)));
                }
                text.push_str("  what was synced before the failure is kept\n");
                write_stderr(&text);
                failures.push(Exit::for_kind(error.kind()));
                // --no-wait: a 429 stops the run at once (every account shares the blocked budget).
                if error.kind() == ErrorKind::RateLimited {
                    stopped = true;
                    break;
                }
            }
            Err(SyncError::Store(error)) => {
                write_stderr(&format!(
                    "error: account {:?}: {}\n",
                    account.name,
                    terminal_safe(&error.to_string())
                ));
                failures.push(store_exit(&error));
            }
        }
    }
    if summary {
        write_stdout(&lines)?;
    }
    Ok(match failures.first() {
        None => Exit::Ok,
        Some(_) if stopped => Exit::Unavailable,
        Some(_) if failures.len() < accounts.len() => Exit::Partial,
        Some(first) => *first,
    })
}

/// `main: 12 new entries (2 512 fetched in 2 pages); stored 2 695, complete from … to …; possible
/// gaps at …`.
async fn summary_line(store: &Store, account: &str, synced: &Synced) -> anyhow::Result<String> {
    let p = &synced.progress;
    let covered = store.coverage(account).await?;
    let summary = store.accounts().await?.into_iter().find(|a| a.account == account);
    let stored = summary.map_or(0, |s| s.entries);
    let span = match (covered.first(), covered.last()) {
        (Some(first), Some(last)) if covered.len() == 1 => {
            format!("complete from {} to {}", rfc3339(first.from_mts), rfc3339(last.to_mts))
        }
        (Some(_), Some(_)) => {
            format!("complete over {} separate ranges (run sync again to join them)", covered.len())
        }
        _ => "nothing covered yet".to_owned(),
    };
    let gaps = match synced.gaps.is_empty() {
        true => "no possible gaps".to_owned(),
        false => format!(
            "possible gaps at {} (see bfx history check)",
            synced.gaps.iter().map(|g| rfc3339(*g)).collect::<Vec<_>>().join(", ")
        ),
    };
    Ok(format!(
        "{}: {} new entries ({} fetched in {} pages); {stored} stored, {span}; {gaps}\n",
        terminal_safe(account),
        p.inserted,
        p.fetched,
        p.pages
    ))
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The progress line (`history sync`, `history value`): drawn on stderr only when it is a
/// terminal. Rate-limit waits the client reports are shown in it (see
/// `crate::client::show_waits_in`) until the next message.
#[derive(Clone)]
pub(super) struct Bar(Option<ProgressBar>);

impl Bar {
    pub(super) fn start(message: String) -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {prefix} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        crate::client::show_waits_in(Some(bar.clone()));
        Bar(Some(bar))
    }

    /// A new message (a wait shown in the line is over).
    pub(super) fn say(&self, message: impl FnOnce() -> String) {
        if let Some(bar) = &self.0 {
            bar.set_prefix("");
            bar.set_message(message());
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.0 {
            crate::client::show_waits_in(None);
            bar.finish_and_clear();
        }
    }
}
