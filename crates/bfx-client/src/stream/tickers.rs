//! The ticker stream: public `ticker` channels of chosen trading pairs over one WebSocket, each
//! pair's current ticker on subscribing and again on every change, kept across disconnects.
//!
//! The pairs followed can change while the stream runs ([`TickerStream::set_symbols`]): the
//! connection subscribes to what was added and unsubscribes from what was dropped. With nothing
//! to follow no connection is held (a connection without channels gets no heartbeats to watch):
//! it is closed, and the next pair opens a new one (`Connecting`, then `Live`). Every
//! (re)connection subscribes afresh, and each subscription starts with the current ticker, so
//! nothing that changed while disconnected is missed. During maintenance (20060 to 20061) nothing
//! is sent; after it every channel is renewed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bfx_core::TradingTicker;
use bfx_core::parse_trading_ticker;
use futures_util::SinkExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use super::frames::{self, INFO_MAINTENANCE_END, INFO_MAINTENANCE_START, INFO_RESTART, Inbound};
use super::session::next_text;
use super::socket::{self, Socket};
use super::supervisor::backoff;
use super::{EVENT_BUFFER, StreamOptions, StreamState, stop_task, stopped};
use crate::client::Client;
use crate::error::{ALREADY_SUBSCRIBED, Error, SocketError};
use crate::retry::jitter;

/// Channels one connection may hold: Bitfinex's Public Channels page says 25 (its General page
/// says 30; the Python client caps at 25). Pairs past the first 25, in symbol order, are not
/// followed.
pub const TICKER_CHANNELS: usize = 25;

/// Longest wait for a frame to be written.
const SEND_WAIT: Duration = Duration::from_secs(5);

/// What the ticker stream reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TickerEvent {
    /// The current ticker of a followed pair: first when its channel opens, then on every change.
    Ticker(TradingTicker),
    /// The server refused to follow `symbol` (an unknown pair: `10300 "symbol: invalid"`, the
    /// channel limit, …). It is asked for again only once dropped from the pairs and added back,
    /// after maintenance, or on a new connection.
    Refused { symbol: String, code: Option<i64>, msg: String },
    /// `Connecting`, `Live` (subscriptions go out; tickers follow), `Reconnecting` or
    /// `Maintenance`: the ticker stream never polls and never fails for good.
    Status(StreamState),
}

/// A running ticker stream. Dropping it stops the stream; [`TickerStream::close`] also waits for
/// the socket to be closed properly.
#[derive(Debug)]
pub struct TickerStream {
    events: mpsc::Receiver<TickerEvent>,
    /// Each new set of pairs, in order (so a pair dropped and added back is subscribed afresh).
    sets: mpsc::UnboundedSender<BTreeSet<String>>,
    /// The last set sent.
    symbols: BTreeSet<String>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl TickerStream {
    /// The next event; `None` only once the stream was stopped.
    pub async fn next_event(&mut self) -> Option<TickerEvent> {
        self.events.recv().await
    }

    /// Follows `symbols` (trading pairs, `tBTCUSD`) from now on, the first [`TICKER_CHANNELS`] of
    /// them; a pair followed already is not subscribed again, a pair dropped and added back is
    /// (so its current ticker comes again).
    pub fn set_symbols(&mut self, symbols: BTreeSet<String>) {
        if symbols != self.symbols {
            self.symbols = symbols.clone();
            // The task has ended only if stopped: nothing is to be followed then.
            let _ = self.sets.send(symbols);
        }
    }

    /// Stops the stream: closes the socket (with a close frame) and waits for that.
    pub async fn close(mut self) {
        stop_task(&self.stop, &mut self.events, self.task.take()).await;
    }
}

impl Client {
    /// Follows the tickers of `symbols` (see [`TickerStream`]). Call within a Tokio runtime. The
    /// connection goes to the WebSocket URL (Bitfinex serves public channels there too) and
    /// counts against the same connection budget as account streams. Only
    /// [`StreamOptions`]' heartbeat, connect timeout and backoff apply.
    pub fn ticker_stream(&self, symbols: BTreeSet<String>, options: StreamOptions) -> TickerStream {
        let (events, receiver) = mpsc::channel(EVENT_BUFFER);
        let (stop, stopping) = watch::channel(false);
        let (sets, changes) = mpsc::unbounded_channel();
        let task = Tickers {
            client: self.clone(),
            options,
            events,
            stop: stopping,
            current: symbols.clone(),
            changes,
            failures: 0,
        };
        let task = tokio::spawn(task.run());
        TickerStream { events: receiver, sets, symbols, stop, task: Some(task) }
    }
}

/// The stream's task.
#[derive(Debug)]
struct Tickers {
    client: Client,
    options: StreamOptions,
    events: mpsc::Sender<TickerEvent>,
    stop: watch::Receiver<bool>,
    /// The pairs to follow, and the sets that replace them, in order.
    current: BTreeSet<String>,
    changes: mpsc::UnboundedReceiver<BTreeSet<String>>,
    /// Lost connections since a ticker last arrived.
    failures: u32,
}

/// Why a connection ended: its owner stopped the stream, it was lost (and is to be renewed), or
/// nothing is followed any more (it is closed until something is).
#[derive(Debug)]
enum End {
    Stopped,
    Lost(SocketError),
    Idle,
}

/// One connection's channels.
#[derive(Debug, Default)]
struct Channels {
    /// Subscribed: channel id → symbol.
    open: BTreeMap<u64, String>,
    /// Asked for, not yet answered.
    pending: BTreeSet<String>,
    /// Refused: not asked for again until dropped and added back, or after maintenance.
    refused: BTreeSet<String>,
}

impl Channels {
    fn following(&self, symbol: &str) -> bool {
        self.pending.contains(symbol) || self.open.values().any(|s| s == symbol)
    }
}

impl Tickers {
    async fn run(mut self) {
        if self.emit(TickerEvent::Status(StreamState::Connecting)).await.is_err() {
            return;
        }
        let mut idle = false;
        loop {
            if !self.something_to_follow().await {
                return;
            }
            if std::mem::take(&mut idle)
                && self.emit(TickerEvent::Status(StreamState::Connecting)).await.is_err()
            {
                return;
            }
            let error = match self.connection().await {
                End::Stopped => return,
                End::Idle => {
                    idle = true;
                    continue;
                }
                End::Lost(error) => error,
            };
            tracing::info!(%error, "ticker stream disconnected");
            self.failures = self.failures.saturating_add(1);
            let after = backoff(&self.options, self.failures, jitter());
            let error = Arc::new(Error::Socket(error));
            let status = StreamState::Reconnecting { attempt: self.failures, after, error };
            if self.emit(TickerEvent::Status(status)).await.is_err() {
                return;
            }
            let mut stop = self.stop.clone();
            tokio::select! {
                () = stopped(&mut stop) => return,
                () = tokio::time::sleep(after) => {}
            }
        }
    }

    async fn emit(&self, event: TickerEvent) -> Result<(), End> {
        self.events.send(event).await.map_err(|_| End::Stopped)
    }

    /// Waits until some pair is wanted; `false` once the stream is stopped. Between connections
    /// only the latest set matters: a new connection subscribes to all of it.
    async fn something_to_follow(&mut self) -> bool {
        let mut stop = self.stop.clone();
        loop {
            while let Ok(set) = self.changes.try_recv() {
                self.current = set;
            }
            if !self.current.is_empty() {
                return true;
            }
            tokio::select! {
                () = stopped(&mut stop) => return false,
                set = self.changes.recv() => match set {
                    Some(set) => self.current = set,
                    None => return false,
                },
            }
        }
    }

    /// One connection, from opening it to its end.
    async fn connection(&mut self) -> End {
        let mut stop = self.stop.clone();
        let opened = tokio::select! {
            () = stopped(&mut stop) => return End::Stopped,
            opened = socket::open(&self.client, self.client.ws_gate.reserve(), self.options.connect_timeout) => opened,
        };
        let mut ws = match opened {
            Ok(ws) => ws,
            Err(error) => return End::Lost(error),
        };
        let end = self.follow(&mut ws).await;
        let _ = timeout(super::session::CLOSE_WAIT, ws.close(None)).await;
        end
    }

    /// Subscribes to what is wanted and turns frames into events until the connection ends.
    async fn follow(&mut self, ws: &mut Socket) -> End {
        if let Err(end) = self.emit(TickerEvent::Status(StreamState::Live)).await {
            return end;
        }
        let mut channels = Channels::default();
        let silence = self.options.heartbeat_interval.saturating_mul(2);
        let mut stop = self.stop.clone();
        let mut wanted = self.wanted();
        let mut synced = false;
        // Between 20060 and 20061 nothing is sent ("pause activity").
        let mut maintenance = false;
        loop {
            if !synced && !maintenance {
                tokio::select! {
                    biased;
                    () = stopped(&mut stop) => return End::Stopped,
                    sent = sync(ws, &wanted, &mut channels) => if let Err(end) = sent { return end },
                }
                synced = true;
            }
            if wanted.is_empty() && channels.open.is_empty() && channels.pending.is_empty() {
                return End::Idle;
            }
            // Each channel has a heartbeat; with none open there is nothing to watch.
            let watched = (!channels.open.is_empty() || !channels.pending.is_empty()).then_some(silence);
            let text = tokio::select! {
                biased;
                () = stopped(&mut stop) => return End::Stopped,
                // One set at a time, each synced before the next is read.
                set = self.changes.recv() => match set {
                    Some(set) => {
                        self.current = set;
                        wanted = self.wanted();
                        // A pair asked for again is tried again.
                        channels.refused.retain(|symbol| wanted.contains(symbol));
                        synced = false;
                        continue;
                    }
                    None => return End::Stopped,
                },
                text = next_text(ws, watched) => match text {
                    Ok(text) => text,
                    Err(error) => return End::Lost(error),
                },
            };
            let event = match frames::parse(text.as_str()) {
                Inbound::ChannelData { chan_id, body } => {
                    let Some(symbol) = channels.open.get(&chan_id) else { continue };
                    match parse_trading_ticker(symbol, body.as_bytes()) {
                        Ok(ticker) => {
                            // The connection works: the next loss starts the backoff afresh.
                            self.failures = 0;
                            TickerEvent::Ticker(ticker)
                        }
                        Err(error) => {
                            tracing::warn!(%symbol, %error, "ignoring an unreadable ticker update");
                            continue;
                        }
                    }
                }
                Inbound::Subscribed { chan_id, symbol } => {
                    channels.pending.remove(&symbol);
                    // Dropped from the wanted pairs while the answer was on its way: left again.
                    synced &= wanted.contains(&symbol);
                    channels.open.insert(chan_id, symbol);
                    continue;
                }
                Inbound::Error { code, msg, symbol } => {
                    let Some(symbol) = symbol.filter(|s| channels.pending.remove(s)) else {
                        tracing::warn!(?code, %msg, "WebSocket error event");
                        continue;
                    };
                    if code == Some(ALREADY_SUBSCRIBED) {
                        // Followed on a channel we were never told of: start afresh.
                        return End::Lost(SocketError::AlreadySubscribed { symbol, message: msg });
                    }
                    tracing::warn!(%symbol, ?code, %msg, "the server refused a ticker channel");
                    // Its place may go to a pair waiting for one.
                    synced = false;
                    channels.refused.insert(symbol.clone());
                    TickerEvent::Refused { symbol, code, msg }
                }
                Inbound::Info { code: Some(INFO_RESTART) } => {
                    return End::Lost(SocketError::Restarting);
                }
                Inbound::Info { code: Some(INFO_MAINTENANCE_START) } => {
                    maintenance = true;
                    TickerEvent::Status(StreamState::Maintenance)
                }
                Inbound::Info { code: Some(INFO_MAINTENANCE_END) } => {
                    // The docs advise subscribing again: every channel is renewed (and starts with
                    // the current ticker) by the next `sync`, refused pairs included.
                    maintenance = false;
                    let renewed = async {
                        for chan_id in std::mem::take(&mut channels.open).into_keys() {
                            send(ws, frames::unsubscribe(chan_id)).await?;
                        }
                        Ok(())
                    };
                    tokio::select! {
                        biased;
                        () = stopped(&mut stop) => return End::Stopped,
                        sent = renewed => if let Err(end) = sent { return end },
                    }
                    channels.refused.clear();
                    synced = false;
                    TickerEvent::Status(StreamState::Live)
                }
                Inbound::Malformed(reason) => {
                    tracing::warn!(%reason, "ignoring an unreadable WebSocket message");
                    continue;
                }
                Inbound::Info { .. }
                | Inbound::AuthOk
                | Inbound::AuthFailed { .. }
                | Inbound::Snapshot(_)
                | Inbound::Wallet(_)
                | Inbound::Total { .. }
                | Inbound::Heartbeat
                | Inbound::Ignored => continue,
            };
            if let Err(end) = self.emit(event).await {
                return end;
            }
        }
    }

    /// The first [`TICKER_CHANNELS`] wanted pairs.
    fn wanted(&self) -> BTreeSet<String> {
        self.current.iter().take(TICKER_CHANNELS).cloned().collect()
    }
}

/// Unsubscribes from open channels no longer wanted, then subscribes to wanted pairs not yet
/// followed while channels open or asked for stay within [`TICKER_CHANNELS`] (a pair asked for
/// and no longer wanted holds its place until it is answered and left).
async fn sync(ws: &mut Socket, wanted: &BTreeSet<String>, channels: &mut Channels) -> Result<(), End> {
    let dropped: Vec<u64> =
        channels.open.iter().filter(|(_, symbol)| !wanted.contains(*symbol)).map(|(id, _)| *id).collect();
    for chan_id in dropped {
        channels.open.remove(&chan_id);
        send(ws, frames::unsubscribe(chan_id)).await?;
    }
    let room = TICKER_CHANNELS.saturating_sub(channels.open.len() + channels.pending.len());
    let added: Vec<String> = wanted
        .iter()
        .filter(|s| !channels.following(s) && !channels.refused.contains(*s))
        .take(room)
        .cloned()
        .collect();
    for symbol in added {
        send(ws, frames::subscribe_ticker(&symbol)).await?;
        channels.pending.insert(symbol);
    }
    Ok(())
}

/// Sends one frame; a write that cannot complete within [`SEND_WAIT`] is a lost connection.
async fn send(ws: &mut Socket, frame: String) -> Result<(), End> {
    match timeout(SEND_WAIT, ws.send(Message::text(frame))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(End::Lost(SocketError::Send { cause: e.to_string() })),
        Err(_) => Err(End::Lost(SocketError::SendTimeout { limit: SEND_WAIT })),
    }
}
