//! `bfx watch`: follow every selected account live over Bitfinex's WebSocket (one authenticated
//! connection per account), falling back to REST polling while the socket cannot be had.
//!
//! Two forms: the full-screen view on a terminal (`model` → `tui`, run by `screen`), and the
//! scriptable one, one NDJSON event per line on stdout (`status`, `snapshot`, `wallet`, `total`),
//! schema in the README. Each account's state (`connecting`, `live`, `reconnecting`, `polling`,
//! `maintenance`, `failed`) is always said before its data, so a stale total is never presented
//! as current.

mod model;
mod screen;
mod tui;

use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

use bfx_client::{Client, StreamEvent, StreamOptions, StreamState};
use bfx_core::{WalletRow, format_decimal};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cli::ValuationArgs;
use crate::config::Account;
use crate::exit::{Exit, kind_name};
use crate::write_stdout;

/// Streams every account's events as NDJSON until Ctrl-C, or until every stream has ended.
/// Exit 0 on Ctrl-C; 3 when every account failed for good (e.g. a rejected key).
pub async fn ndjson(client: &Client, accounts: Vec<Account>, options: StreamOptions) -> anyhow::Result<Exit> {
    let count = accounts.len();
    let mut receiver = spawn_streams(client, accounts, options);
    let mut failed = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(Exit::Ok),
            next = receiver.recv() => match next {
                Some((account, event)) => {
                    if matches!(event, StreamEvent::Status(StreamState::Failed { .. })) {
                        failed += 1;
                    }
                    write_stdout(&format!("{}\n", event_json(&account, &event, now_ms())))?;
                }
                // Every stream has ended: they end only by failing for good.
                None => return Ok(if failed == count { Exit::Auth } else { Exit::Ok }),
            },
        }
    }
}

/// The full-screen view (values per `valuation`) when stdout is a terminal and `json` is not
/// asked for; NDJSON otherwise.
pub async fn run(
    client: &Client,
    accounts: Vec<Account>,
    options: StreamOptions,
    json: bool,
    valuation: &ValuationArgs,
) -> anyhow::Result<Exit> {
    match !json && std::io::stdout().is_terminal() {
        true => screen::run(client, accounts, options, valuation).await,
        false => ndjson(client, accounts, options).await,
    }
}

/// One stream per account, their events merged on one channel (account name, event); the
/// channel closes once every stream has ended.
fn spawn_streams(
    client: &Client,
    accounts: Vec<Account>,
    options: StreamOptions,
) -> mpsc::Receiver<(String, StreamEvent)> {
    let (lines, receiver) = mpsc::channel::<(String, StreamEvent)>(256);
    for account in accounts {
        let mut stream = client.account_stream(account.credentials, options.clone());
        let lines = lines.clone();
        tokio::spawn(async move {
            while let Some(event) = stream.next_event().await {
                if lines.send((account.name.clone(), event)).await.is_err() {
                    break;
                }
            }
            stream.close().await;
        });
    }
    receiver
}

/// One event as a JSON object (see README "bfx watch").
pub fn event_json(account: &str, event: &StreamEvent, ts_ms: u128) -> Value {
    match event {
        StreamEvent::Snapshot { wallets } => json!({
            "event": "snapshot", "account": account, "ts": ts_ms,
            "wallets": wallets.iter().map(wallet_json).collect::<Vec<_>>(),
        }),
        StreamEvent::Wallet(row) => {
            json!({"event": "wallet", "account": account, "ts": ts_ms, "wallet": wallet_json(row)})
        }
        StreamEvent::Total { aum, aum_net } => json!({
            "event": "total", "account": account, "ts": ts_ms,
            "aum": format_decimal(*aum), "aum_net": format_decimal(*aum_net),
        }),
        StreamEvent::Status(state) => {
            let (name, reason, extra) = match state {
                StreamState::Connecting => ("connecting", None, json!({})),
                StreamState::Live => ("live", None, json!({})),
                StreamState::Reconnecting { attempt, after, error } => (
                    "reconnecting",
                    Some(error.to_string()),
                    json!({"attempt": attempt, "retry_in_ms": after.as_millis()}),
                ),
                StreamState::Polling { error } => ("polling", Some(error.to_string()), json!({})),
                StreamState::Maintenance => ("maintenance", None, json!({})),
                StreamState::Failed { error } => {
                    ("failed", Some(error.to_string()), json!({"kind": kind_name(error.kind())}))
                }
                _ => ("unknown", None, json!({})),
            };
            let mut object =
                json!({"event": "status", "account": account, "ts": ts_ms, "state": name, "reason": reason});
            if let (Value::Object(map), Value::Object(more)) = (&mut object, extra) {
                map.extend(more);
            }
            object
        }
        _ => json!({"event": "unknown", "account": account, "ts": ts_ms}),
    }
}

fn wallet_json(row: &WalletRow) -> Value {
    json!({
        "type": row.wallet_type.as_str(),
        "currency": row.currency,
        "balance": format_decimal(row.balance),
        "available": row.available.map(format_decimal),
        "unsettled_interest": row.unsettled_interest.map(format_decimal),
    })
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfx_client::{Error, SocketError};
    use std::sync::Arc;
    use std::time::Duration;

    fn row(json: &str) -> WalletRow {
        bfx_core::parse_wallets(json.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn events_as_json() {
        let w = row(r#"[["exchange","BTC",1e-8,0,null,null,null]]"#);
        assert_eq!(
            event_json("main", &StreamEvent::Wallet(w.clone()), 7).to_string(),
            r#"{"account":"main","event":"wallet","ts":7,"wallet":{"available":null,"balance":"0.00000001","currency":"BTC","type":"exchange","unsettled_interest":"0"}}"#
        );
        assert_eq!(
            event_json("main", &StreamEvent::Snapshot { wallets: vec![w] }, 7)["wallets"][0]["balance"],
            "0.00000001"
        );
        let total = StreamEvent::Total { aum: "1.50".parse().unwrap(), aum_net: "-2".parse().unwrap() };
        assert_eq!(event_json("a", &total, 1)["aum"], "1.5");
        let reconnecting = StreamState::Reconnecting {
            attempt: 2,
            after: Duration::from_millis(750),
            error: Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false })),
        };
        assert_eq!(
            event_json("a", &StreamEvent::Status(reconnecting), 1),
            json!({"event": "status", "account": "a", "ts": 1, "state": "reconnecting", "reason": "the connection ended", "attempt": 2, "retry_in_ms": 750})
        );
        let refused = Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() };
        let failed = StreamState::Failed { error: Arc::new(refused) };
        assert_eq!(event_json("a", &StreamEvent::Status(failed), 1)["kind"], "auth");
        assert_eq!(event_json("a", &StreamEvent::Status(StreamState::Live), 1)["reason"], Value::Null);
    }
}
