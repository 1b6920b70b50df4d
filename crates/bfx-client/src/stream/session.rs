//! One connection of the account stream: open it within the connection budget, authenticate with
//! a nonce from the key's shared slot, then turn frames into events until the connection is lost,
//! the server restarts (20051), or two heartbeat intervals pass in silence.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use bfx_core::WalletRow;

use super::frames::{self, INFO_MAINTENANCE_END, INFO_MAINTENANCE_START, INFO_RESTART, Inbound};
use super::socket::{self, Socket};
use super::supervisor::Supervisor;
use super::{StreamEvent, StreamState};
use crate::error::{Error, ErrorKind, SocketError};

/// Longest wait for our close frame to go out when the stream is closed.
pub(super) const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How a connection ended.
#[derive(Debug)]
pub(super) enum End {
    /// The stream's owner closed it or went away.
    Stopped,
    /// Retrying cannot help.
    Fatal(Error),
    /// Try again; `opened`: the socket was had and authenticated, so data flowed (and polling is
    /// not called for).
    Lost { error: Error, opened: bool },
}

fn lost(error: impl Into<Error>) -> End {
    End::Lost { error: error.into(), opened: true }
}

/// The server's answer to `auth`.
enum Reply {
    Ok,
    Failed { code: Option<i64>, msg: String },
}

impl Supervisor {
    /// Runs one connection, opened at `place` (its turn in the connection budget), to its end.
    pub(super) async fn session(&mut self, place: Instant) -> End {
        let mut stop = self.stop.clone();
        // Boxed, as the REST request in `rest_snapshot`: opening (TCP, TLS, upgrade) is large and
        // brief, and the task outlives it by hours.
        let opened = tokio::select! {
            () = stop.stopped() => return End::Stopped,
            opened = Box::pin(socket::open(&self.client, place, self.options.connect_timeout)) => opened,
        };
        let mut ws = match opened {
            Ok(ws) => ws,
            Err(error) => return End::Lost { error: error.into(), opened: false },
        };
        let authed = tokio::select! {
            () = stop.stopped() => Err(End::Stopped),
            authed = self.authenticate(&mut ws) => authed,
        };
        if let Err(end) = authed {
            let _ = timeout(CLOSE_WAIT, ws.close(None)).await;
            // No data flows before `auth` is answered: a socket lost before that (one that accepts
            // and never answers, times out, or closes) counts as one that could not be opened, so
            // that REST polling takes over instead of reconnecting without data for minutes.
            return match end {
                End::Lost { error, .. } => End::Lost { error, opened: false },
                end => end,
            };
        }
        self.went_live();
        if let Err(end) = self.emit(StreamEvent::Status(StreamState::Live)).await {
            return end;
        }
        // Whatever changed while disconnected, read after `auth` was answered: at least as new as
        // the socket's own `ws` snapshot, which is sent with that answer.
        let rest = match self.resync().await {
            Ok(rest) => rest,
            Err(end) => {
                let _ = timeout(CLOSE_WAIT, ws.close(None)).await;
                return end;
            }
        };
        self.read(ws, rest).await
    }

    /// Every wallet over REST, emitted as a snapshot while the socket is live, and returned. A
    /// failure that may pass is logged (`None`): the socket's own snapshot and changes keep coming.
    async fn resync(&self) -> Result<Option<Vec<WalletRow>>, End> {
        match self.rest_snapshot().await? {
            Ok(wallets) => {
                self.emit(StreamEvent::Snapshot { wallets: wallets.clone() }).await?;
                Ok(Some(wallets))
            }
            Err(error) => {
                tracing::warn!(key = self.credentials.key(), %error, "REST wallet snapshot failed");
                Ok(None)
            }
        }
    }

    /// Sends `auth` and waits for the reply. The key's nonce slot is held from choosing the nonce
    /// until the reply, as for a REST request: Bitfinex keeps one nonce counter per key for both.
    async fn authenticate(&self, ws: &mut Socket) -> Result<(), End> {
        let key = self.credentials.key();
        let mut resigned = false;
        loop {
            // Another process holding the key's lock is waited for within the auth timeout, then
            // tried again like a lost connection. Any other local failure to get a nonce: REST
            // requests with the key would fail the same way.
            let mut slot = match self.client.nonces.acquire_within(key, self.options.auth_timeout).await {
                Ok(slot) => slot,
                Err(error @ Error::NonceLockHeld { .. }) => return Err(lost(error)),
                Err(error) => return Err(End::Fatal(error)),
            };
            let nonce = slot.allocate().await.map_err(End::Fatal)?;
            let frame = frames::auth_frame(key, self.credentials.secret_bytes(), nonce);
            tracing::debug!(key, %nonce, "WebSocket auth");
            ws.send(Message::text(frame))
                .await
                .map_err(|e| lost(SocketError::Send { cause: e.to_string() }))?;
            let limit = self.options.auth_timeout;
            let reply = timeout(limit, auth_reply(ws)).await;
            drop(slot);
            let error = match reply {
                Err(_) => return Err(lost(SocketError::AuthTimeout { limit })),
                Ok(Err(end)) => return Err(end),
                Ok(Ok(Reply::Ok)) => return Ok(()),
                Ok(Ok(Reply::Failed { code, msg })) => Error::WsAuth { code, message: msg },
            };
            match error.kind() {
                // Another program may have used the key: once more with a fresh nonce.
                ErrorKind::Nonce if !resigned => {
                    tracing::warn!(key, "{error}; signing again with a fresh nonce");
                    resigned = true;
                }
                ErrorKind::Auth | ErrorKind::Permission | ErrorKind::Nonce => return Err(End::Fatal(error)),
                _ => return Err(lost(error)),
            }
        }
    }

    /// Turns frames into events until the connection ends. `rest`: the REST snapshot made on
    /// connecting, against which the socket's first `ws` snapshot is checked.
    async fn read(&mut self, mut ws: Socket, mut rest: Option<Vec<WalletRow>>) -> End {
        let silence = self.options.heartbeat_interval.saturating_mul(2);
        let mut stop = self.stop.clone();
        loop {
            let text = tokio::select! {
                biased;
                () = stop.stopped() => {
                    let _ = timeout(CLOSE_WAIT, ws.close(None)).await;
                    return End::Stopped;
                }
                text = next_text(&mut ws, Some(silence)) => match text {
                    Ok(text) => text,
                    Err(error) => return lost(error),
                },
            };
            let event = match frames::parse(text.as_str()) {
                Inbound::Snapshot(wallets) => match rest.take() {
                    None => StreamEvent::Snapshot { wallets },
                    Some(rest) => match news(&rest, wallets) {
                        Some(wallets) => StreamEvent::Snapshot { wallets },
                        None => continue,
                    },
                },
                Inbound::Wallet(row) => StreamEvent::Wallet(row),
                Inbound::Total { aum, aum_net } => StreamEvent::Total { aum, aum_net },
                Inbound::Info { code: Some(INFO_RESTART) } => {
                    let _ = timeout(CLOSE_WAIT, ws.close(None)).await;
                    return lost(SocketError::Restarting);
                }
                Inbound::Info { code: Some(INFO_MAINTENANCE_START) } => {
                    StreamEvent::Status(StreamState::Maintenance)
                }
                Inbound::Info { code: Some(INFO_MAINTENANCE_END) } => {
                    if let Err(end) = self.emit(StreamEvent::Status(StreamState::Live)).await {
                        return end;
                    }
                    // The docs advise resubscribing; the account channel lasts as long as the
                    // auth, so a fresh REST snapshot is what is needed.
                    if let Err(end) = self.resync().await {
                        return end;
                    }
                    continue;
                }
                Inbound::Malformed(reason) => {
                    tracing::warn!(%reason, "ignoring an unreadable WebSocket message");
                    continue;
                }
                Inbound::Info { .. }
                | Inbound::AuthOk
                | Inbound::AuthFailed { .. }
                | Inbound::Subscribed { .. }
                | Inbound::Error { .. }
                | Inbound::ChannelData { .. }
                | Inbound::Heartbeat
                | Inbound::Ignored => continue,
            };
            if let Err(end) = self.emit(event).await {
                return end;
            }
        }
    }
}

/// The next text frame, or why the connection is over: `silence` passed without any frame (when
/// given), it failed, or it was closed. Pings are answered by tungstenite; binary frames are not
/// Bitfinex's. Cancel-safe.
pub(super) async fn next_text(ws: &mut Socket, silence: Option<Duration>) -> Result<Utf8Bytes, SocketError> {
    loop {
        let frame = match silence {
            Some(silence) => {
                timeout(silence, ws.next()).await.map_err(|_| SocketError::Silent { silence })?
            }
            None => ws.next().await,
        };
        match frame {
            Some(Ok(Message::Text(text))) => return Ok(text),
            Some(Ok(Message::Close(close))) => return Err(closed(close, false)),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(SocketError::Broken { cause: e.to_string(), awaiting_auth: false }),
            None => return Err(SocketError::Ended { awaiting_auth: false }),
        }
    }
}

/// The socket's `ws` snapshot, after the REST one made on connecting: `None` when it says nothing
/// that one did not (the same wallets, balances and unsettled interest; a `null` available
/// balance is Bitfinex's "not computed", not news), so one snapshot stands for the connect.
/// Otherwise its rows (a change came between the two reads; the `wu` messages that follow bring
/// them up to date), each `null` available taken from the REST row of the same wallet when the
/// balance is the same: that REST value is the newest known. Where the balance differs it stays
/// `null`: unknown.
fn news(rest: &[WalletRow], socket: Vec<WalletRow>) -> Option<Vec<WalletRow>> {
    let same_wallet =
        |a: &WalletRow, b: &WalletRow| a.wallet_type == b.wallet_type && a.currency == b.currency;
    let known = |row: &WalletRow| rest.iter().find(|r| same_wallet(r, row));
    let adds_nothing = |row: &WalletRow| {
        known(row).is_some_and(|r| {
            r.balance == row.balance
                && r.unsettled_interest == row.unsettled_interest
                && (row.available.is_none() || row.available == r.available)
        })
    };
    if socket.len() == rest.len() && socket.iter().all(adds_nothing) {
        return None;
    }
    let filled = socket
        .into_iter()
        .map(|mut row| {
            if row.available.is_none()
                && let Some(r) = known(&row).filter(|r| r.balance == row.balance)
            {
                row.available = r.available;
            }
            row
        })
        .collect();
    Some(filled)
}

/// The server's close frame (with its code and reason, when it gave them) as the connection's end.
fn closed(close: Option<CloseFrame>, awaiting_auth: bool) -> SocketError {
    match close {
        Some(close) => SocketError::Closed {
            code: Some(u16::from(close.code)),
            reason: close.reason.as_str().to_owned(),
            awaiting_auth,
        },
        None => SocketError::Closed { code: None, reason: String::new(), awaiting_auth },
    }
}

/// Reads frames until the reply to `auth` (the greeting and heartbeats may come first).
async fn auth_reply(ws: &mut Socket) -> Result<Reply, End> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => match frames::parse(text.as_str()) {
                Inbound::AuthOk => return Ok(Reply::Ok),
                Inbound::AuthFailed { code, msg } => return Ok(Reply::Failed { code, msg }),
                Inbound::Info { code: Some(INFO_RESTART) } => return Err(lost(SocketError::Restarting)),
                _ => {}
            },
            Some(Ok(Message::Close(close))) => return Err(lost(closed(close, true))),
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                return Err(lost(SocketError::Broken { cause: e.to_string(), awaiting_auth: true }));
            }
            None => return Err(lost(SocketError::Ended { awaiting_auth: true })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(json: &str) -> Vec<WalletRow> {
        bfx_core::parse_wallets(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_socket_snapshot_that_says_nothing_new_is_not_repeated() {
        let rest = rows(r#"[["exchange","BTC",1.5,0,1.2,null,null],["funding","USD",10,0,null,null,null]]"#);
        // Bitfinex's `ws`: the same balances, available not computed; in any order.
        let socket =
            rows(r#"[["funding","USD",10,0,null,null,null],["exchange","BTC",1.5,0,null,null,null]]"#);
        assert_eq!(news(&rest, socket), None);
        let same = rows(r#"[["exchange","BTC",1.5,0,1.2,null,null],["funding","USD",10,0,null,null,null]]"#);
        assert_eq!(news(&rest, same), None);
        assert_eq!(news(&[], Vec::new()), None);
    }

    #[test]
    fn a_socket_snapshot_with_news_keeps_known_available_balances_of_unchanged_wallets() {
        let rest = rows(
            r#"[["exchange","BTC",1.5,0,1.2,null,null],["exchange","ETH",2,0,1,null,null],["funding","USD",10,0,7,null,null]]"#,
        );
        // ETH changed between the two reads, and a wallet appeared; USD's available is computed.
        let socket = rows(
            r#"[["exchange","BTC",1.5,0,null,null,null],["exchange","ETH",3,0,null,null,null],["funding","USD",10,0,8,null,null],["margin","BTC",1,0,null,null,null]]"#,
        );
        let got = news(&rest, socket).unwrap();
        let available: Vec<Option<String>> = got.iter().map(|r| r.available.map(|a| a.to_string())).collect();
        assert_eq!(available, [Some("1.2".into()), None, Some("8".into()), None]);
        assert_eq!(got[1].balance, "3".parse().unwrap());
        // A wallet gone, an unsettled interest changed, a computed available that differs: news.
        let gone = rows(r#"[["exchange","BTC",1.5,0,null,null,null]]"#);
        assert_eq!(news(&rest[..2], gone).map(|r| r.len()), Some(1));
        let interest = rows(r#"[["exchange","BTC",1.5,0.1,null,null,null]]"#);
        assert!(news(&rest[..1], interest).is_some());
        let available = rows(r#"[["exchange","BTC",1.5,0,1.3,null,null]]"#);
        assert!(news(&rest[..1], available).is_some());
    }
}
