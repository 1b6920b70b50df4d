//! One WebSocket connection: the events it answers (auth, subscribe, unsubscribe, ping, conf), the
//! `calc` input, and what it forwards (wallet and ticker changes, info events, heartbeats).
//!
//! One task per connection selects over the client's frames, the hub's events, the heartbeat timer
//! and shutdown. The runtime lock is taken only in short synchronous sections, never across a send.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use serde_json::{Map, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::frames::{self, InfoCode};
use super::hub::WsEvent;
use super::{aum, auth};
use crate::account::wallet_row;
use crate::counters::WsCount;
use crate::shared::Shared;

/// A send that takes longer means the client stopped reading: the connection is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Channels per connection, the account channel included (Bitfinex's Public Channels page: 25).
const MAX_CHANNELS: usize = 25;
/// `conf` flags accepted: only the order-book checksum (131072), which changes nothing here as the
/// emulator has no books. Flags that change frames (sequence numbers, strings) are refused.
const ACCEPTED_FLAGS: u64 = 131_072;

// Error codes of WebSocket events (Bitfinex's WS error list).
const UNKNOWN_EVENT: u32 = 10000;
const SUBSCRIPTION_FAILED: u32 = 10300;
const ALREADY_SUBSCRIBED: u32 = 10301;
const UNKNOWN_CHANNEL: u32 = 10302;
const SUBSCRIPTION_LIMIT: u32 = 10305;
const NOT_SUBSCRIBED: u32 = 10401;

/// Why a session ends; it decides how the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed or vanished.
    Gone,
    Shutdown,
    /// After info 20051.
    Restart,
    /// `POST /sim/ws/drop`: no close frame.
    Dropped,
    /// The session fell behind the hub's events.
    Lagged,
    /// Neither authenticated nor subscribed within the time allowed.
    Idle,
}

type Step = Result<(), End>;

struct Authed {
    account: String,
    wallets: bool,
    /// Wallet events up to this number are in the snapshot already.
    since: u64,
    /// The account's wallet changes (the hub's channel for it).
    events: broadcast::Receiver<WsEvent>,
}

/// The next wallet change of the authenticated account; never, before `auth`.
async fn recv_account(authed: &mut Option<Authed>) -> Result<WsEvent, RecvError> {
    match authed {
        Some(authed) => authed.events.recv().await,
        None => std::future::pending().await,
    }
}

struct TickerChannel {
    chan_id: u64,
    symbol: String,
    since: u64,
}

struct Session {
    socket: WebSocket,
    shared: Shared,
    events: broadcast::Receiver<WsEvent>,
    stopping: watch::Receiver<bool>,
    authed: Option<Authed>,
    tickers: Vec<TickerChannel>,
}

/// Counts a session in the hub from its upgrade until it ends (dropped with the session, or with
/// the upgrade callback if the upgrade fails).
#[derive(Debug)]
pub(crate) struct SessionGuard(Shared);

impl SessionGuard {
    pub(crate) fn new(shared: Shared) -> SessionGuard {
        shared.ws().session_opened();
        SessionGuard(shared)
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.ws().session_closed();
    }
}

/// Runs one connection to its end, then closes it as that end requires.
pub(crate) async fn run(socket: WebSocket, shared: Shared, ip: IpAddr, guard: SessionGuard) {
    let events = shared.ws().subscribe();
    let stopping = shared.stopping();
    let mut session = Session { socket, shared, events, stopping, authed: None, tickers: Vec::new() };
    let end = session.serve().await;
    tracing::debug!(%ip, end = ?end, "WebSocket session ended");
    let close = match end {
        End::Shutdown => Some((1001, "server shutting down")),
        End::Restart => Some((1012, "server restarting")),
        End::Lagged => Some((1013, "too slow: updates were lost, reconnect")),
        End::Idle => Some((1008, "no auth or subscribe in time")),
        End::Gone | End::Dropped => None,
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.socket.send(Message::Close(Some(frame)))).await;
    }
    // Dropping the socket closes the TCP connection; for `Dropped` that is all the client sees.
    drop(session);
    drop(guard);
}

enum Input {
    Client(Option<Result<Message, axum::Error>>),
    Event(Result<WsEvent, RecvError>),
    Heartbeat,
    Stop,
    Idle,
}

impl Session {
    async fn serve(&mut self) -> End {
        let welcome = frames::welcome(self.shared.ws().server_id(), self.shared.lock().state.operative);
        if let Err(end) = self.send(welcome).await {
            return end;
        }
        let period = self.shared.ws().heartbeat();
        let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // An idle socket still costs its buffers: one that never authenticates nor subscribes
        // is closed rather than held forever.
        let idle_deadline = tokio::time::sleep(self.shared.ws().auth_timeout());
        tokio::pin!(idle_deadline);
        loop {
            let engaged = self.authed.is_some() || !self.tickers.is_empty();
            // In this order when several are ready: an account's change published before an
            // event for every session (an info, a ticker) is also sent before it, as when all
            // went through one channel (`recv` of a change already sent is ready at once).
            let input = tokio::select! {
                biased;
                _ = self.stopping.wait_for(|stopping| *stopping) => Input::Stop,
                event = recv_account(&mut self.authed) => Input::Event(event),
                event = self.events.recv() => Input::Event(event),
                message = self.socket.recv() => Input::Client(message),
                () = &mut idle_deadline, if !engaged => Input::Idle,
                _ = heartbeat.tick() => Input::Heartbeat,
            };
            let step = match input {
                Input::Stop => Err(End::Shutdown),
                Input::Idle => Err(End::Idle),
                Input::Client(Some(Ok(Message::Text(text)))) => self.on_text(text.as_str()).await,
                // Binary frames carry nothing in this protocol; pings are answered by the library,
                // and after a close frame the next read ends the session.
                Input::Client(Some(Ok(_))) => Ok(()),
                Input::Client(None | Some(Err(_))) => Err(End::Gone),
                Input::Event(event) => self.on_hub_event(event).await,
                Input::Heartbeat => self.on_heartbeat().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Sends one text frame, giving up when the client stops reading or the server stops.
    async fn send(&mut self, text: String) -> Step {
        let send = tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text.into())));
        tokio::select! {
            sent = send => match sent {
                Ok(Ok(())) => Ok(()),
                _ => Err(End::Gone),
            },
            _ = self.stopping.wait_for(|stopping| *stopping) => Err(End::Shutdown),
        }
    }

    async fn send_all(&mut self, texts: Vec<String>) -> Step {
        for text in texts {
            self.send(text).await?;
        }
        Ok(())
    }

    async fn on_text(&mut self, text: &str) -> Step {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(request)) => match request.get("event").and_then(Value::as_str) {
                Some("auth") => self.on_auth(text).await,
                Some("subscribe") => self.on_subscribe(&request).await,
                Some("unsubscribe") => self.on_unsubscribe(&request).await,
                Some("ping") => self.send(frames::pong(now_ms(), request.get("cid"))).await,
                Some("conf") => {
                    let flags = request.get("flags").unwrap_or(&Value::Null);
                    let accepted = flags.as_u64().is_some_and(|f| f & !ACCEPTED_FLAGS == 0);
                    self.send(frames::conf(accepted, flags)).await
                }
                _ => self.send(frames::error(UNKNOWN_EVENT, "event: invalid", &[])).await,
            },
            Ok(Value::Array(input)) => self.on_input(&input).await,
            _ => self.send(frames::error(UNKNOWN_EVENT, "event: invalid", &[])).await,
        }
    }

    async fn on_auth(&mut self, text: &str) -> Step {
        let counters = self.shared.counters();
        if self.authed.is_some() {
            counters.ws(WsCount::AuthFailed);
            return self.send(frames::auth_failed(auth::DUPLICATE.code, auth::DUPLICATE.msg)).await;
        }
        match auth::authenticate(&self.shared, text) {
            Ok(authorized) => {
                counters.ws(WsCount::AuthOk);
                tracing::debug!(account = %authorized.account, "WebSocket authenticated");
                self.authed = Some(Authed {
                    account: authorized.account,
                    wallets: authorized.wallets,
                    since: authorized.seq,
                    events: authorized.events,
                });
                self.send_all(authorized.frames).await
            }
            Err(refusal) => {
                counters.ws(WsCount::AuthFailed);
                tracing::debug!(code = refusal.code, reason = refusal.msg, "WebSocket auth refused");
                self.send(frames::auth_failed(refusal.code, refusal.msg)).await
            }
        }
    }

    async fn on_subscribe(&mut self, request: &Map<String, Value>) -> Step {
        let echo: Vec<(&str, &Value)> = ["channel", "symbol", "subId"]
            .into_iter()
            .filter_map(|k| request.get(k).map(|v| (k, v)))
            .collect();
        let refuse = |code, msg| frames::error(code, msg, &echo);
        match request.get("channel").and_then(Value::as_str) {
            Some("ticker") => {}
            Some("book" | "trades" | "candles" | "status") => {
                return self.send(refuse(SUBSCRIPTION_FAILED, "channel: not emulated by bfx-sim")).await;
            }
            _ => return self.send(refuse(UNKNOWN_CHANNEL, "channel: unknown")).await,
        }
        let symbol = request.get("symbol").and_then(Value::as_str).unwrap_or_default();
        let found = {
            let runtime = self.shared.lock();
            runtime.state.ticker(symbol).map(|t| (t.fields.join(","), self.shared.ws().seq()))
        };
        let Some((fields, since)) = found else {
            return self.send(refuse(SUBSCRIPTION_FAILED, "symbol: invalid")).await;
        };
        if self.tickers.iter().any(|t| t.symbol == symbol) {
            return self.send(refuse(ALREADY_SUBSCRIBED, "subscribe: dup")).await;
        }
        if self.tickers.len() + usize::from(self.authed.is_some()) >= MAX_CHANNELS {
            return self.send(refuse(SUBSCRIPTION_LIMIT, "subscribe: limit")).await;
        }
        let chan_id = self.shared.ws().next_chan_id();
        self.tickers.push(TickerChannel { chan_id, symbol: symbol.to_owned(), since });
        let subscribed = frames::subscribed(chan_id, symbol, request.get("subId"));
        self.send_all(vec![subscribed, frames::ticker(chan_id, &fields)]).await
    }

    async fn on_unsubscribe(&mut self, request: &Map<String, Value>) -> Step {
        let chan_id = request.get("chanId").and_then(Value::as_u64);
        match chan_id.and_then(|id| self.tickers.iter().position(|t| t.chan_id == id)) {
            Some(index) => {
                let channel = self.tickers.remove(index);
                self.send(frames::unsubscribed(channel.chan_id)).await
            }
            None => {
                let echo: Vec<(&str, &Value)> =
                    request.get("chanId").map(|v| ("chanId", v)).into_iter().collect();
                self.send(frames::error(NOT_SUBSCRIBED, "unsubscribe: invalid", &echo)).await
            }
        }
    }

    /// Channel-0 inputs. Only `calc` is emulated (orders and offers are not); the others, and
    /// every input before auth, are ignored.
    async fn on_input(&mut self, input: &[Value]) -> Step {
        let is_calc = input.first().and_then(Value::as_u64) == Some(0)
            && input.get(1).and_then(Value::as_str) == Some("calc");
        let Some(authed) = self.authed.as_ref().filter(|a| a.wallets && is_calc) else {
            return Ok(());
        };
        // Both official clients wrap each name in its own array: [["wallet_exchange_BTC"], …].
        let names: Vec<&str> = input
            .get(3)
            .and_then(Value::as_array)
            .map(|requests| {
                requests
                    .iter()
                    .filter_map(|r| r.as_str().or_else(|| r.get(0).and_then(Value::as_str)))
                    .collect()
            })
            .unwrap_or_default();
        let replies: Vec<String> = {
            let runtime = self.shared.lock();
            let state = &runtime.state;
            let Some(account) = state.accounts.iter().find(|a| a.name == authed.account) else {
                return Ok(());
            };
            names
                .iter()
                .filter_map(|name| {
                    if *name == "balance" {
                        return Some(frames::balance_update(&aum::totals(state, account)));
                    }
                    let (wallet_type, currency) = name.strip_prefix("wallet_")?.split_once('_')?;
                    let wallet = account
                        .wallets
                        .iter()
                        .find(|w| w.wallet_type == wallet_type && w.currency == currency)?;
                    let available = wallet.available.as_deref().unwrap_or(&wallet.balance);
                    Some(frames::wallet_update(&wallet_row(wallet, Some(available))))
                })
                .collect()
        };
        self.send_all(replies).await
    }

    async fn on_hub_event(&mut self, event: Result<WsEvent, RecvError>) -> Step {
        match event {
            Ok(WsEvent::Wallet { seq, account, row, totals, delivery }) => {
                let mine =
                    self.authed.as_ref().is_some_and(|a| a.wallets && a.account == account && seq > a.since);
                let sent = match mine {
                    true => {
                        self.send_all(vec![frames::wallet_update(&row), frames::balance_update(&totals)])
                            .await
                    }
                    false => Ok(()),
                };
                delivery.passed();
                sent
            }
            Ok(WsEvent::Ticker { seq, symbol, fields }) => {
                let channels: Vec<u64> = self
                    .tickers
                    .iter()
                    .filter(|t| t.symbol == symbol && seq > t.since)
                    .map(|t| t.chan_id)
                    .collect();
                self.send_all(channels.into_iter().map(|id| frames::ticker(id, &fields)).collect()).await
            }
            Ok(WsEvent::Info(code)) => {
                self.send(frames::info(code)).await?;
                if code == InfoCode::Restart { Err(End::Restart) } else { Ok(()) }
            }
            Ok(WsEvent::Drop) => Err(End::Dropped),
            Err(RecvError::Lagged(_)) => Err(End::Lagged),
            Err(RecvError::Closed) => Err(End::Shutdown),
        }
    }

    /// `[CHAN_ID,"hb"]` for the account channel (once authenticated) and every ticker channel.
    async fn on_heartbeat(&mut self) -> Step {
        if !self.shared.ws().heartbeats() {
            return Ok(());
        }
        let account = self.authed.as_ref().map(|_| 0);
        let channels: Vec<String> = account
            .into_iter()
            .chain(self.tickers.iter().map(|t| t.chan_id))
            .map(frames::heartbeat)
            .collect();
        self.send_all(channels).await
    }
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}
