//! Keeps an account stream going: runs connections one after another, each at its turn in the
//! client's connection budget, backs off between them (exponential with jitter), polls REST
//! `wallets` while no socket can be had or while its turn is far off, and stops for good only
//! when its owner goes away or retrying cannot help.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bfx_core::WalletRow;

use super::session::End;
use super::{Sink, Stop, StreamEvent, StreamOptions, StreamState};
use crate::client::Client;
use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind};
use crate::retry::jitter;

/// One stream's task and what it remembers between connections.
#[derive(Debug)]
pub(crate) struct Supervisor {
    pub(super) client: Client,
    pub(super) credentials: Credentials,
    pub(super) options: StreamOptions,
    events: Sink,
    pub(super) stop: Stop,
    /// Failed attempts since the stream was last live.
    failures: u32,
    /// Attempts in a row that could not open a socket.
    open_failures: u32,
    /// While polling: why there is no socket.
    polling: Option<PollReason>,
    /// While polling: the last poll failed, and [`StreamState::PollFailed`] said so.
    poll_failed: bool,
    next_poll: Instant,
}

/// Why wallets are polled over REST.
#[derive(Debug)]
enum PollReason {
    /// The socket's turn in the connection budget is at `place`.
    Queued { place: Instant },
    /// No socket could be opened: the last attempt's failure.
    NoSocket(Arc<Error>),
}

impl Supervisor {
    pub(super) fn new(
        client: Client,
        credentials: Credentials,
        options: StreamOptions,
        events: Sink,
        stop: Stop,
    ) -> Supervisor {
        Supervisor {
            client,
            credentials,
            options,
            events,
            stop,
            failures: 0,
            open_failures: 0,
            polling: None,
            poll_failed: false,
            next_poll: Instant::now(),
        }
    }

    /// Boxed: the task keeps its argument twice (as moved in, and as its own), and it waits on
    /// its socket for hours.
    pub(super) async fn run(mut self: Box<Self>) {
        if self.emit(StreamEvent::Status(StreamState::Connecting)).await.is_err() {
            return;
        }
        loop {
            let place = match self.queue().await {
                Ok(place) => place,
                Err(End::Fatal(error)) => return self.fail(error).await,
                Err(_) => return,
            };
            let (error, opened) = match self.session(place).await {
                End::Stopped => return,
                End::Fatal(error) => return self.fail(error).await,
                End::Lost { error, opened } => (Arc::new(error), opened),
            };
            tracing::info!(key = self.credentials.key(), %error, "account stream disconnected");
            self.failures = self.failures.saturating_add(1);
            self.open_failures = if opened { 0 } else { self.open_failures.saturating_add(1) };
            let after = backoff(&self.options, self.failures, jitter());
            let status = match &mut self.polling {
                Some(PollReason::NoSocket(reason)) => {
                    *reason = error;
                    None
                }
                _ if self.open_failures >= self.options.polling_after.max(1) => {
                    // Polling already while queued: the next poll stays when it was due.
                    if self.polling.is_none() {
                        self.next_poll = Instant::now();
                    }
                    self.polling = Some(PollReason::NoSocket(error.clone()));
                    Some(StreamState::Polling { error })
                }
                _ => {
                    self.polling = None;
                    Some(StreamState::Reconnecting { attempt: self.failures, after, error })
                }
            };
            if let Some(status) = status
                && self.emit(StreamEvent::Status(status)).await.is_err()
            {
                return;
            }
            match self.wait_until(Instant::now() + after).await {
                Ok(()) => {}
                Err(End::Fatal(error)) => return self.fail(error).await,
                Err(_) => return,
            }
        }
    }

    /// Takes the stream's turn in the connection budget. When it is a poll interval or more
    /// away (many accounts opening at once: Bitfinex allows 5 new sockets per 15 s, so the
    /// 1 000th waits about 50 minutes), says [`StreamState::Queued`] and polls REST until then
    /// (unless polling already, for want of a socket).
    async fn queue(&mut self) -> Result<Instant, End> {
        let place = self.client.ws_gate.reserve();
        let wait = place.saturating_duration_since(Instant::now());
        if wait < self.options.poll_interval {
            return Ok(place);
        }
        match &mut self.polling {
            Some(PollReason::NoSocket(_)) => {}
            Some(PollReason::Queued { place: queued }) => *queued = place,
            None => {
                self.polling = Some(PollReason::Queued { place });
                self.next_poll = Instant::now();
                self.emit(StreamEvent::Status(StreamState::Queued { opens_in: wait })).await?;
            }
        }
        self.wait_until(place).await?;
        Ok(place)
    }

    /// The state that says why wallets are polled, when they are.
    fn polling_state(&self) -> Option<StreamState> {
        match self.polling.as_ref()? {
            PollReason::Queued { place } => {
                Some(StreamState::Queued { opens_in: place.saturating_duration_since(Instant::now()) })
            }
            PollReason::NoSocket(error) => Some(StreamState::Polling { error: Arc::clone(error) }),
        }
    }

    /// The stream is live again: the next loss starts the backoff afresh, and polling ends.
    pub(super) fn went_live(&mut self) {
        self.failures = 0;
        self.open_failures = 0;
        self.polling = None;
        self.poll_failed = false;
    }

    pub(super) async fn emit(&self, event: StreamEvent) -> Result<(), End> {
        match &self.events {
            Sink::Own(events) => events.send(Box::new(event)).await.map_err(|_| End::Stopped),
            Sink::Shared { name, lines } => {
                lines.reserve().await.map_err(|_| End::Stopped)?.send((name.clone(), event));
                Ok(())
            }
        }
    }

    /// Every wallet over REST. A rejected key ends the stream (`Err`); any other failure is
    /// returned (`Ok(Err)`) for the caller to report: it may pass.
    pub(super) async fn rest_snapshot(&self) -> Result<Result<Vec<WalletRow>, Error>, End> {
        let mut stop = self.stop.clone();
        // Boxed: a REST request's future is large (~1.4 KiB) and lives only while it runs; inline,
        // it would size every account's task for it, also while the task waits on its socket.
        let fetched = tokio::select! {
            () = stop.stopped() => return Err(End::Stopped),
            fetched = Box::pin(self.client.wallets(&self.credentials)) => fetched,
        };
        match fetched {
            Err(error) if matches!(error.kind(), ErrorKind::Auth | ErrorKind::Permission) => {
                Err(End::Fatal(error))
            }
            fetched => Ok(fetched),
        }
    }

    /// One REST poll, emitted as a snapshot. A failed poll makes what is known stale: the first
    /// of a run says [`StreamState::PollFailed`]; the next success says why it polls
    /// ([`StreamState::Polling`] or [`StreamState::Queued`]) again before its snapshot.
    async fn poll(&mut self) -> Result<(), End> {
        match self.rest_snapshot().await? {
            Ok(wallets) => {
                if std::mem::take(&mut self.poll_failed)
                    && let Some(state) = self.polling_state()
                {
                    self.emit(StreamEvent::Status(state)).await?;
                }
                self.emit(StreamEvent::Snapshot { wallets }).await
            }
            Err(error) => {
                tracing::warn!(key = self.credentials.key(), %error, "REST wallet poll failed");
                if std::mem::replace(&mut self.poll_failed, true) {
                    return Ok(());
                }
                self.emit(StreamEvent::Status(StreamState::PollFailed { error: Arc::new(error) })).await
            }
        }
    }

    /// Waits until `until` (the next connection attempt), polling REST meanwhile when polling.
    async fn wait_until(&mut self, until: Instant) -> Result<(), End> {
        let mut stop = self.stop.clone();
        loop {
            let now = Instant::now();
            if self.polling.is_some() && now >= self.next_poll {
                self.poll().await?;
                // The client's rate limiter keeps polls within the endpoint's budget.
                self.next_poll = Instant::now() + self.options.poll_interval;
                continue;
            }
            if now >= until {
                return Ok(());
            }
            let wake = if self.polling.is_some() { until.min(self.next_poll) } else { until };
            tokio::select! {
                () = stop.stopped() => return Err(End::Stopped),
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn fail(self: Box<Self>, error: Error) {
        tracing::warn!(key = self.credentials.key(), %error, "account stream failed");
        let _ = self.emit(StreamEvent::Status(StreamState::Failed { error: Arc::new(error) })).await;
    }
}

/// The wait before attempt `failures + 1`: between half and all of
/// `min(cap, base × 2^(failures − 1))`, `jitter` in `0..1` choosing where.
pub(super) fn backoff(options: &StreamOptions, failures: u32, jitter: f64) -> Duration {
    let growth = 2u32.saturating_pow(failures.saturating_sub(1));
    let ceiling = options.backoff_base.saturating_mul(growth).min(options.backoff_cap);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 1.0 };
    ceiling.mul_f64(0.5 + jitter / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let options = StreamOptions::default();
        let ms = |failures, jitter| backoff(&options, failures, jitter).as_millis();
        assert_eq!(ms(1, 1.0), 500);
        assert_eq!(ms(1, 0.0), 250);
        assert_eq!(ms(2, 1.0), 1000);
        assert_eq!(ms(4, 1.0), 4000);
        assert_eq!(ms(7, 1.0), 30_000, "32 s is capped at 30 s");
        assert_eq!(ms(1000, 0.0), 15_000, "no overflow");
        assert_eq!(ms(0, 1.0), 500);
        assert_eq!(ms(3, f64::NAN), 2000);
    }
}
