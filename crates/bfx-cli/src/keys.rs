//! `bfx keys check`: for every configured key, ask Bitfinex what it may do
//! (`auth/r/permissions`) and judge it for reading balances: OK (wallets read, no write),
//! OVER-PRIVILEGED (any write: whoever holds the key can act on the account), MISSING (no wallets
//! read), or BROKEN (Bitfinex refused the key); and whether it can read open positions, which
//! `bfx balances` adds to the net total.

use bfx_client::Client;
use bfx_core::permission::{Verdict, WriteRisk, audit};
use bfx_core::portfolio::AccountError;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::config::Account;
use crate::exit::{Exit, diagnose};
use crate::output::terminal_safe;

#[derive(Debug, Serialize)]
pub struct KeyReport {
    pub account: String,
    pub key: String,
    /// `OK`, `OVER-PRIVILEGED`, `MISSING`, or `BROKEN` (see `error`).
    pub verdict: &'static str,
    /// Scopes the key can read, and can write (with why each write matters).
    pub read: Vec<String>,
    pub write: Vec<WriteRisk>,
    /// The key can read open positions (else `bfx balances` skips them and its net total).
    pub positions_read: bool,
    pub error: Option<AccountError>,
    #[serde(skip)]
    problem: Option<(Exit, String)>,
}

pub async fn check(client: &Client, accounts: Vec<Account>) -> Vec<KeyReport> {
    let mut tasks = JoinSet::new();
    for (index, account) in accounts.into_iter().enumerate() {
        let client = client.clone();
        tasks.spawn(async move {
            let result = client.permissions(&account.credentials).await;
            (index, judge(&account, result))
        });
    }
    let mut reports: Vec<(usize, KeyReport)> = tasks.join_all().await;
    reports.sort_by_key(|(index, _)| *index);
    reports.into_iter().map(|(_, r)| r).collect()
}

fn judge(account: &Account, result: Result<Vec<bfx_core::Permission>, bfx_client::Error>) -> KeyReport {
    let (name, key) = (account.name.clone(), account.credentials.key().to_owned());
    match result {
        Ok(permissions) => {
            let audit = audit(&permissions);
            let (verdict, problem) = match audit.verdict {
                Verdict::Ok => ("OK", None),
                Verdict::OverPrivileged => {
                    let risks: Vec<String> =
                        audit.write.iter().map(|w| format!("{} ({})", w.scope, w.risk)).collect();
                    let text = format!(
                        "the key can write: {}. A balance reader needs only \"Wallets\" read; anyone who obtains this key can act on the account. Create a read-only key and delete this one.",
                        risks.join("; ")
                    );
                    ("OVER-PRIVILEGED", Some((Exit::Auth, text)))
                }
                Verdict::Missing => (
                    "MISSING",
                    Some((
                        Exit::Auth,
                        "the key cannot read wallets: enable \"Wallets\" read on it (and nothing else)"
                            .to_owned(),
                    )),
                ),
            };
            KeyReport {
                account: name,
                key,
                verdict,
                read: audit.read,
                write: audit.write,
                positions_read: audit.positions_read,
                error: None,
                problem,
            }
        }
        Err(error) => {
            let d = diagnose(&error, &account.secret_source);
            let text = match d.hint {
                Some(hint) => format!("{}\n  hint: {hint}", d.message),
                None => d.message,
            };
            KeyReport {
                account: name,
                key,
                verdict: "BROKEN",
                read: Vec::new(),
                write: Vec::new(),
                positions_read: false,
                error: Some(error.account_error()),
                problem: Some((Exit::for_kind(error.kind()), text)),
            }
        }
    }
}

/// The table for stdout and the warnings for stderr.
pub fn render(reports: &[KeyReport]) -> (String, String) {
    let mut rows = vec![["ACCOUNT", "KEY", "VERDICT", "READ", "WRITE", "POSITIONS"].map(str::to_owned)];
    let mut warnings = String::new();
    for r in reports {
        let list = |v: Vec<&str>| if v.is_empty() { "-".to_owned() } else { v.join(",") };
        rows.push([
            r.account.clone(),
            r.key.clone(),
            r.verdict.to_owned(),
            list(r.read.iter().map(String::as_str).collect()),
            list(r.write.iter().map(|w| w.scope.as_str()).collect()),
            match (r.positions_read, r.error.is_some()) {
                (_, true) => "-",
                (true, false) => "read",
                (false, false) => "no (net total skips them)",
            }
            .to_owned(),
        ]);
        if let Some((_, text)) = &r.problem {
            let text = terminal_safe(text);
            warnings.push_str(&format!("warning: account {:?} ({}): {text}\n", r.account, r.verdict));
        }
    }
    // Scopes come from the server: never raw control characters.
    let rows: Vec<Vec<String>> =
        rows.iter().map(|row| row.iter().map(|cell| terminal_safe(cell).into_owned()).collect()).collect();
    let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    (out, warnings)
}

/// 0 when every key is OK; otherwise the worst problem's code (3 for a bad or over-privileged
/// key, 4 when Bitfinex could not be reached).
pub fn exit_code(reports: &[KeyReport]) -> Exit {
    let codes: Vec<Exit> = reports.iter().filter_map(|r| r.problem.as_ref().map(|(e, _)| *e)).collect();
    if codes.is_empty() {
        Exit::Ok
    } else if codes.contains(&Exit::Auth) {
        Exit::Auth
    } else {
        codes[0]
    }
}
