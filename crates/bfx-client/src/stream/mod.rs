//! The account stream: one key's wallet changes over the WebSocket (`ws`/`wu`/`bu` on channel 0),
//! kept alive across disconnects, with a REST snapshot after every (re)connect and REST polling
//! while no socket can be had; and the ticker stream: public `ticker` channels of chosen pairs.
//!
//! # Layout
//! - `frames`: the `auth` frame and what each received frame means.
//! - `socket`: TCP/TLS and the upgrade. `gate`: the connection budget (5 per 15 s).
//! - `session`: one connection (auth, then messages under a heartbeat watchdog);
//!   `supervisor`: reconnects with backoff, and polling.
//! - `tickers`: the ticker stream, one connection with a channel per pair.

mod frames;
pub(crate) mod gate;
mod session;
mod socket;
mod supervisor;
mod tickers;

use std::sync::Arc;
use std::time::Duration;

use bfx_core::WalletRow;
use rust_decimal::Decimal;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::credentials::Credentials;
use crate::error::Error;

pub use tickers::{TICKER_CHANNELS, TickerEvent, TickerStream};

/// Events buffered for a slow reader before the stream waits for it.
pub(crate) const EVENT_BUFFER: usize = 256;

/// An event as it waits in a stream's channel: boxed, because Tokio's channel allocates its
/// slots 32 at a time as soon as it is made, so each idle account stream would otherwise hold
/// 32 × 152 bytes (a [`StreamEvent`] holds a whole wallet row) instead of 32 pointers.
pub(crate) type Queued = Box<StreamEvent>;

/// Events of many accounts' streams on one channel, each with the account's name.
pub(crate) type Lines = mpsc::Sender<(String, StreamEvent)>;

/// Where a stream's events go.
#[derive(Debug)]
pub(crate) enum Sink {
    /// Its own channel, read through [`AccountStream::next_event`].
    Own(mpsc::Sender<Queued>),
    /// A channel shared with other accounts' streams, its events named `name`.
    Shared { name: String, lines: Lines },
}

/// What tells a stream to stop.
#[derive(Debug, Clone)]
pub(crate) enum Stop {
    /// Its [`AccountStream`] says so, or is gone.
    Told(watch::Receiver<bool>),
    /// The shared channel's receiver is gone.
    Gone(Lines),
}

impl Stop {
    /// Resolves once the stream is to stop. Cancel-safe.
    pub(crate) async fn stopped(&mut self) {
        match self {
            Stop::Told(stop) => stopped(stop).await,
            Stop::Gone(lines) => lines.closed().await,
        }
    }
}

/// Timings of an account stream. The defaults suit Bitfinex; tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOptions {
    /// The server's heartbeat interval (Bitfinex: 15 s). Two intervals without any frame at all
    /// count as a dead connection.
    pub heartbeat_interval: Duration,
    /// Time allowed for TCP, TLS and the upgrade.
    pub connect_timeout: Duration,
    /// Time allowed for the reply to `auth`.
    pub auth_timeout: Duration,
    /// First reconnect backoff's ceiling; it doubles per failed attempt up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Failed attempts to open the socket in a row before polling REST meanwhile. An attempt that
    /// connects but is not authenticated (no answer to `auth`, or lost before it) counts as failed.
    pub polling_after: u32,
    /// Time between REST `wallets` polls while polling.
    pub poll_interval: Duration,
}

impl Default for StreamOptions {
    fn default() -> StreamOptions {
        StreamOptions {
            heartbeat_interval: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            polling_after: 2,
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// What the stream reports, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// Every wallet of the account. Replaces what was known. After each (re)connect, one from
    /// REST (read once `auth` is answered, so at least as new as the WebSocket's `ws` snapshot);
    /// the `ws` snapshot only when it says something that one did not (a change between the two
    /// reads), its unknown (`null`) available balances taken from REST for wallets whose balance
    /// is the same; when the REST read failed, the `ws` snapshot as sent. While polling, one from
    /// each poll.
    Snapshot {
        wallets: Vec<WalletRow>,
    },
    /// One wallet changed (`wu`).
    Wallet(WalletRow),
    /// Total assets and net assets changed (`bu`; Bitfinex documents no unit).
    Total {
        aum: Decimal,
        aum_net: Decimal,
    },
    Status(StreamState),
}

/// Where the stream stands. Each state that follows a failure carries it as the typed [`Error`]
/// (its `kind()`, Bitfinex's `code()` and message where there is one), shared so that states
/// stay cheap to clone. States are equal when their errors read the same (kind, code, message).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StreamState {
    /// Opening the first connection.
    Connecting,
    /// Authenticated; changes arrive as they happen.
    Live,
    /// The connection was lost (or could not be had, or `auth` was refused for a reason that may
    /// pass); the next attempt starts `after` (plus any wait for the connection budget).
    Reconnecting { attempt: u32, after: Duration, error: Arc<Error> },
    /// No socket could be opened (`error` says why): wallets are polled over REST while the
    /// socket is retried. Said again when polls succeed after [`StreamState::PollFailed`].
    Polling { error: Arc<Error> },
    /// The socket waits for its turn in the connection budget (Bitfinex allows 5 new sockets per
    /// 15 s per IP, so many accounts open over minutes) and opens in `opens_in`: wallets are polled
    /// over REST meanwhile. Said again when polls succeed after [`StreamState::PollFailed`].
    Queued { opens_in: Duration },
    /// Polling (or queued), but the last REST poll failed (`error`, for a reason that may pass): what is
    /// known is as old as the last snapshot. Said once per run of failed polls; the next poll
    /// that succeeds says [`StreamState::Polling`] (or [`StreamState::Queued`]) again, then its
    /// snapshot.
    PollFailed { error: Arc<Error> },
    /// Bitfinex announced maintenance (info 20060); the connection is kept until it ends (20061).
    Maintenance,
    /// Terminal: retrying cannot help (the key was rejected over the WebSocket or REST, its nonces
    /// are unusable, …). No event follows.
    Failed { error: Arc<Error> },
}

impl StreamState {
    /// Every state's [`StreamState::name`], in the order they are declared.
    pub const NAMES: [&'static str; 8] =
        ["connecting", "live", "reconnecting", "polling", "queued", "poll_failed", "maintenance", "failed"];

    /// The state's stable name in machine-readable output (`bfx watch --json`, `bfx serve`).
    pub fn name(&self) -> &'static str {
        match self {
            StreamState::Connecting => "connecting",
            StreamState::Live => "live",
            StreamState::Reconnecting { .. } => "reconnecting",
            StreamState::Polling { .. } => "polling",
            StreamState::Queued { .. } => "queued",
            StreamState::PollFailed { .. } => "poll_failed",
            StreamState::Maintenance => "maintenance",
            StreamState::Failed { .. } => "failed",
        }
    }

    /// The failure this state follows, if any.
    pub fn error(&self) -> Option<&Error> {
        match self {
            StreamState::Reconnecting { error, .. }
            | StreamState::Polling { error }
            | StreamState::PollFailed { error }
            | StreamState::Failed { error } => Some(error),
            StreamState::Connecting
            | StreamState::Live
            | StreamState::Queued { .. }
            | StreamState::Maintenance => None,
        }
    }
}

impl PartialEq for StreamState {
    fn eq(&self, other: &StreamState) -> bool {
        use StreamState::{Connecting, Failed, Live, Maintenance, PollFailed, Polling, Queued, Reconnecting};
        match (self, other) {
            (Connecting, Connecting) | (Live, Live) | (Maintenance, Maintenance) => true,
            (
                Reconnecting { attempt, after, error },
                Reconnecting { attempt: other_attempt, after: other_after, error: other_error },
            ) => attempt == other_attempt && after == other_after && same_error(error, other_error),
            (Queued { opens_in }, Queued { opens_in: other }) => opens_in == other,
            (Polling { error }, Polling { error: other })
            | (PollFailed { error }, PollFailed { error: other })
            | (Failed { error }, Failed { error: other }) => same_error(error, other),
            _ => false,
        }
    }
}

/// Reflexive: an error reads the same as itself.
impl Eq for StreamState {}

/// The same failure, as far as a reader can tell: kind, code and message. (Errors holding I/O
/// errors cannot be compared field by field.)
fn same_error(a: &Error, b: &Error) -> bool {
    std::ptr::eq(a, b) || (a.kind() == b.kind() && a.code() == b.code() && a.to_string() == b.to_string())
}

/// A running account stream. Dropping it stops the stream; [`AccountStream::close`] also waits
/// for the socket to be closed properly.
#[derive(Debug)]
pub struct AccountStream {
    events: mpsc::Receiver<Queued>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl AccountStream {
    /// The next event; `None` once the stream has ended (after [`StreamState::Failed`]).
    pub async fn next_event(&mut self) -> Option<StreamEvent> {
        self.events.recv().await.map(|event| *event)
    }

    /// Stops the stream: closes the socket (with a close frame) and waits for that.
    pub async fn close(mut self) {
        stop_task(&self.stop, &mut self.events, self.task.take()).await;
    }
}

impl Client {
    /// Streams `credentials`' wallets (see [`StreamEvent`]). Call within a Tokio runtime: the
    /// stream runs as a task. Its auth nonces come from the same per-key source as REST requests
    /// (Bitfinex keeps one counter for both), and its connections count against the budget
    /// shared by clones of this client (see [`crate::ClientBuilder::ws_connection_limit`]).
    pub fn account_stream(&self, credentials: Credentials, options: StreamOptions) -> AccountStream {
        let (events, receiver) = mpsc::channel(EVENT_BUFFER);
        let (stop, stopping) = watch::channel(false);
        let (sink, stopping) = (Sink::Own(events), Stop::Told(stopping));
        let supervisor =
            Box::new(supervisor::Supervisor::new(self.clone(), credentials, options, sink, stopping));
        let task = tokio::spawn(supervisor.run());
        AccountStream { events: receiver, stop, task: Some(task) }
    }

    /// Streams `credentials`' wallets as [`Client::account_stream`] does, onto `lines` (shared
    /// with other accounts' streams) as `(name, event)`, without a channel and task of its own
    /// in between. The stream stops, closing its socket, once `lines`' receiver is gone.
    pub(crate) fn shared_account_stream(
        &self,
        name: String,
        credentials: Credentials,
        options: StreamOptions,
        lines: Lines,
    ) {
        let stop = Stop::Gone(lines.clone());
        let sink = Sink::Shared { name, lines };
        let supervisor =
            Box::new(supervisor::Supervisor::new(self.clone(), credentials, options, sink, stop));
        tokio::spawn(supervisor.run());
    }
}

/// Asks a stream's task to stop and waits for it to end.
async fn stop_task<T>(
    stop: &watch::Sender<bool>,
    events: &mut mpsc::Receiver<T>,
    task: Option<JoinHandle<()>>,
) {
    let _ = stop.send(true);
    // A task waiting for room in a full buffer is released by closing it.
    events.close();
    if let Some(task) = task {
        let _ = task.await;
    }
}

/// Resolves once the stream is asked to stop (or its handle is gone). Cancel-safe.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SocketError;

    fn failed(error: Error) -> StreamState {
        StreamState::Failed { error: Arc::new(error) }
    }

    #[test]
    fn names_lists_every_state_name_in_order() {
        let error = Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false }));
        let states = [
            StreamState::Connecting,
            StreamState::Live,
            StreamState::Reconnecting { attempt: 1, after: Duration::ZERO, error: Arc::clone(&error) },
            StreamState::Polling { error: Arc::clone(&error) },
            StreamState::Queued { opens_in: Duration::ZERO },
            StreamState::PollFailed { error: Arc::clone(&error) },
            StreamState::Maintenance,
            StreamState::Failed { error },
        ];
        assert_eq!(states.map(|s| s.name()), StreamState::NAMES);
    }

    #[test]
    fn states_are_equal_when_their_errors_read_the_same() {
        let refused = || Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() };
        assert_eq!(failed(refused()), failed(refused()));
        assert_ne!(
            failed(refused()),
            failed(Error::WsAuth { code: Some(10100), message: "apikey: digest invalid".into() })
        );
        assert_ne!(
            failed(refused()),
            failed(Error::WsAuth { code: None, message: "apikey: invalid".into() })
        );
        let ended = Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false }));
        let reconnecting =
            |attempt| StreamState::Reconnecting { attempt, after: Duration::ZERO, error: ended.clone() };
        assert_eq!(reconnecting(1), reconnecting(1));
        assert_ne!(reconnecting(1), reconnecting(2));
        assert_ne!(
            StreamState::Polling { error: ended.clone() },
            StreamState::Failed { error: ended.clone() }
        );
        assert_ne!(
            StreamState::Polling { error: ended.clone() },
            StreamState::PollFailed { error: ended.clone() }
        );
        assert_eq!(
            StreamState::PollFailed { error: ended.clone() },
            StreamState::PollFailed {
                error: Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false }))
            }
        );
        assert_eq!(
            StreamState::Polling { error: ended.clone() }.error().map(Error::kind),
            Some(crate::ErrorKind::Network)
        );
        assert_eq!(StreamState::Live.error().map(Error::kind), None);
    }
}
