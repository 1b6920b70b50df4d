//! `bfx watch`: follow every selected account live over Bitfinex's WebSocket (one authenticated
//! connection per account), falling back to REST polling while the socket cannot be had.
//!
//! Two forms: the full-screen view on a terminal (`bfx_client::live::Model` → `tui`, run by `screen`), and the
//! scriptable one, one NDJSON event per line on stdout (`status`, `snapshot`, `wallet`, `total`,
//! and `value`: the account valued as `bfx balances` values it), schema in the README. Each account's state (`connecting`, `live`, `reconnecting`, `polling`,
//! `poll_failed`, `maintenance`, `failed`) is always said before its data, so a stale total is never presented
//! as current; a state that follows a failure says it as `bfx balances` would (message, hint,
//! code and kind).

mod failures;
mod flow;
mod screen;
mod tui;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bfx_client::{Client, StreamEvent, StreamOptions, StreamState, feeds};
use bfx_core::portfolio::{AccountValue, Valuation};
use bfx_core::{Market, PriceKind, WalletRow, format_decimal};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::config::{Account, check_quote};
use crate::exit::{Diagnosis, Exit, diagnose};
use crate::output::write_stdout;
use bfx_client::live::Model;

/// Longest wait for the first prices before anything is shown (to refuse an unknown quote first).
const FIRST_PRICES: Duration = Duration::from_secs(5);

/// Streams every account's events as NDJSON until Ctrl-C, or until every stream has ended, with
/// a `value` event whenever an account's value in the quote changes (its wallets, or the prices
/// fetched every 10 s). Exit 0 on Ctrl-C; 3 when every account failed for good (e.g. a rejected
/// key); 2 for an unknown quote.
pub async fn ndjson(
    client: &Client,
    accounts: Vec<Account>,
    options: StreamOptions,
    valuation: &Valuation,
) -> anyhow::Result<Exit> {
    let count = accounts.len();
    let sources = SecretSources::new(&accounts);
    let mut model = Model::new(&valuation.quote, valuation.kind, accounts.iter().map(|a| a.name.clone()));
    let mut prices = feeds::price_refresh(client.clone());
    first_prices(&mut prices, &mut model).await?;
    let mut receiver =
        feeds::account_streams(client, accounts.iter().map(Account::reader).collect(), options);
    let mut values = Values::default();
    let mut failed = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(Exit::Ok),
            next = receiver.recv() => match next {
                Some((account, event)) => {
                    if matches!(event, StreamEvent::Status(StreamState::Failed { .. })) {
                        failed += 1;
                    }
                    let line = event_json(&account, &event, now_ms(), sources.of(&account));
                    model.apply(&account, event, Instant::now());
                    write_stdout(&format!("{line}\n"))?;
                    write_stdout(&values.changed(&model, now_ms()))?;
                }
                // Every stream has ended: they end only by failing for good.
                None => return Ok(if failed == count { Exit::Auth } else { Exit::Ok }),
            },
            Some((market, at)) = prices.recv() => {
                model.set_market(market, at);
                write_stdout(&values.changed(&model, now_ms()))?;
            }
        }
    }
}

/// The last `value` event said of each account (without its time), to say only what changed.
#[derive(Debug, Default)]
struct Values(HashMap<String, Value>);

impl Values {
    /// A `value` line for every account with data whose value differs from the last one said;
    /// nothing until there are prices.
    fn changed(&mut self, model: &Model, ts_ms: u128) -> String {
        if !model.has_prices() {
            return String::new();
        }
        let portfolio = model.valued();
        let mut out = String::new();
        for (account, view) in portfolio.accounts.iter().zip(&model.accounts) {
            if view.last_data.is_none() && view.wallets.is_empty() {
                continue;
            }
            let value = value_json(&portfolio.quote, portfolio.price, account);
            if self.0.get(&account.name) != Some(&value) {
                let mut line = value.clone();
                line["ts"] = json!(ts_ms);
                out.push_str(&format!("{line}\n"));
                self.0.insert(account.name.clone(), value);
            }
        }
        out
    }
}

/// One account's value (see README "bfx watch"): each wallet's price and value (`null` when
/// unpriced), the account's total (`null` when it does not fit a decimal), and what is left out.
fn value_json(quote: &str, price: PriceKind, account: &AccountValue) -> Value {
    let amount = |v: Option<Decimal>| v.map(format_decimal);
    json!({
        "event": "value", "account": account.name, "quote": quote, "price": price.to_string(),
        "total": amount(account.total),
        "wallets": account.wallets.iter().map(|w| json!({
            "type": w.wallet_type.as_str(), "currency": w.currency,
            "price": amount(w.price), "value": amount(w.value),
        })).collect::<Vec<_>>(),
        "unpriced": account.wallets.iter().filter_map(|w| Some(json!({
            "type": w.wallet_type.as_str(), "currency": w.currency, "reason": w.unpriced.as_ref()?.to_string(),
        }))).collect::<Vec<_>>(),
    })
}

/// The full-screen view when stdout is a terminal and `json` is not asked for; NDJSON
/// otherwise. Both value in `valuation`.
pub async fn run(
    client: &Client,
    accounts: Vec<Account>,
    options: StreamOptions,
    json: bool,
    valuation: &Valuation,
) -> anyhow::Result<Exit> {
    match !json && std::io::stdout().is_terminal() {
        true => screen::run(client, accounts, options, valuation).await,
        false => ndjson(client, accounts, options, valuation).await,
    }
}

/// Waits (a bounded time) for the first prices, so that an unknown quote is refused before
/// anything is shown; without them in time, values come once prices do.
pub(crate) async fn first_prices(
    prices: &mut mpsc::Receiver<(Market, Instant)>,
    model: &mut Model,
) -> anyhow::Result<()> {
    if let Ok(Some((market, at))) = tokio::time::timeout(FIRST_PRICES, prices.recv()).await {
        check_quote(&market, &model.quote)?;
        model.set_market(market, at);
    }
    Ok(())
}

/// Where each account's secret comes from (`BFX_API_SECRET`, `secret_file …`), for the hints
/// that explain a stream's failure.
#[derive(Debug, Clone, Default)]
pub struct SecretSources(HashMap<String, String>);

impl SecretSources {
    pub fn new(accounts: &[Account]) -> SecretSources {
        SecretSources(accounts.iter().map(|a| (a.name.clone(), a.secret_source.clone())).collect())
    }

    pub fn of(&self, account: &str) -> &str {
        self.0.get(account).map_or("the account's secret", String::as_str)
    }
}

/// One event as a JSON object (see README "bfx watch"). A state that follows a failure has the
/// failure as `bfx balances` reports it: `reason` (its message), `hint` (when there is one),
/// `code` (Bitfinex's, or null) and `kind` (as in `balances --json` errors); `secret_source` is
/// for the hint.
pub fn event_json(account: &str, event: &StreamEvent, ts_ms: u128, secret_source: &str) -> Value {
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
            let name = state.name();
            let mut object =
                json!({"event": "status", "account": account, "ts": ts_ms, "state": name, "reason": null});
            if let StreamState::Reconnecting { attempt, after, .. } = state {
                object["attempt"] = json!(attempt);
                object["retry_in_ms"] = json!(after.as_millis());
            }
            if let StreamState::Queued { opens_in } = state {
                object["socket_in_ms"] = json!(opens_in.as_millis());
            }
            if let Some(error) = state.error() {
                let Diagnosis { message, hint } = diagnose(error, secret_source);
                object["reason"] = json!(message);
                object["code"] = json!(error.code());
                object["kind"] = json!(error.kind().name());
                if let Some(hint) = hint {
                    object["hint"] = json!(hint);
                }
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

    fn status(state: StreamState) -> Value {
        event_json("a", &StreamEvent::Status(state), 1, "BFX_API_SECRET")
    }

    #[test]
    fn events_as_json() {
        let w = row(r#"[["exchange","BTC",1e-8,0,null,null,null]]"#);
        assert_eq!(
            event_json("main", &StreamEvent::Wallet(w.clone()), 7, "S").to_string(),
            r#"{"account":"main","event":"wallet","ts":7,"wallet":{"available":null,"balance":"0.00000001","currency":"BTC","type":"exchange","unsettled_interest":"0"}}"#
        );
        assert_eq!(
            event_json("main", &StreamEvent::Snapshot { wallets: vec![w] }, 7, "S")["wallets"][0]["balance"],
            "0.00000001"
        );
        let total = StreamEvent::Total { aum: "1.50".parse().unwrap(), aum_net: "-2".parse().unwrap() };
        assert_eq!(event_json("a", &total, 1, "S")["aum"], "1.5");
        assert_eq!(
            status(StreamState::Live),
            json!({"event": "status", "account": "a", "ts": 1, "state": "live", "reason": null})
        );
    }

    #[test]
    fn a_failure_has_the_code_kind_message_and_hint_balances_gives() {
        let refused = Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() };
        let expected = diagnose(&refused, "BFX_API_SECRET");
        let failed = status(StreamState::Failed { error: Arc::new(refused) });
        assert_eq!(
            failed,
            json!({"event": "status", "account": "a", "ts": 1, "state": "failed",
                   "reason": expected.message, "hint": expected.hint.unwrap(), "code": 10100, "kind": "auth"})
        );
        assert!(failed["hint"].as_str().unwrap().contains("BFX_API_SECRET"), "{failed}");
        // A REST refusal ends a stream too: the same fields, as `balances --json` has them.
        let rest = Error::Api {
            endpoint: "auth/r/wallets",
            status: 500,
            code: 10114,
            message: "nonce: small".into(),
        };
        let failed = status(StreamState::Failed { error: Arc::new(rest) });
        assert_eq!((&failed["code"], &failed["kind"]), (&json!(10114), &json!("nonce")));
        assert!(
            failed["reason"].as_str().unwrap().contains("auth/r/wallets: 10114 nonce: small"),
            "{failed}"
        );
    }

    #[test]
    fn queued_says_when_the_socket_opens_and_is_no_failure() {
        assert_eq!(
            status(StreamState::Queued { opens_in: Duration::from_millis(45_000) }),
            json!({"event": "status", "account": "a", "ts": 1, "state": "queued", "reason": null,
                   "socket_in_ms": 45_000})
        );
    }

    #[test]
    fn reconnecting_and_polling_say_why_with_a_null_code_when_bitfinex_sent_none() {
        let ended = Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false }));
        let reconnecting =
            StreamState::Reconnecting { attempt: 2, after: Duration::from_millis(750), error: ended };
        assert_eq!(
            status(reconnecting),
            json!({"event": "status", "account": "a", "ts": 1, "state": "reconnecting",
                   "reason": "the connection ended", "code": null, "kind": "network",
                   "attempt": 2, "retry_in_ms": 750})
        );
        let restarting = Arc::new(Error::Socket(SocketError::Restarting));
        let reconnecting =
            status(StreamState::Reconnecting { attempt: 1, after: Duration::ZERO, error: restarting });
        assert_eq!((&reconnecting["code"], &reconnecting["kind"]), (&json!(20051), &json!("unavailable")));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let connect = Error::Socket(SocketError::Connect { url: "ws://h:1/ws/2".into(), cause: refused });
        let polling = status(StreamState::Polling { error: Arc::new(connect) });
        assert_eq!(
            (&polling["state"], &polling["code"], &polling["kind"]),
            (&json!("polling"), &Value::Null, &json!("network"))
        );
        assert_eq!(polling["hint"], "check the network, or the --ws-url / BFX_WS_URL setting");
        // A failed poll while polling: its own state, the REST failure said as `balances` says it.
        let maintenance = Error::Api {
            endpoint: "auth/r/wallets",
            status: 500,
            code: 20060,
            message: "maintenance".into(),
        };
        let expected = diagnose(&maintenance, "BFX_API_SECRET");
        assert_eq!(
            status(StreamState::PollFailed { error: Arc::new(maintenance) }),
            json!({"event": "status", "account": "a", "ts": 1, "state": "poll_failed",
                   "reason": expected.message, "hint": expected.hint.unwrap(), "code": 20060, "kind": "unavailable"})
        );
        assert!(
            polling["reason"].as_str().unwrap().starts_with("cannot connect to ws://h:1/ws/2"),
            "{polling}"
        );
    }
}
