//! A scripted WebSocket server for the account-stream tests: each accepted connection is handed
//! to the test, which sends exact frames and reads what the client sent.

use std::time::Duration;

use bfx_client::{AccountStream, StreamEvent, StreamState};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Longest a test waits for anything.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct FakeWs {
    pub url: String,
    pub conns: mpsc::UnboundedReceiver<Conn>,
}

pub struct Conn {
    pub ws: WebSocketStream<TcpStream>,
}

impl FakeWs {
    /// Listening on a fresh loopback port.
    pub async fn start() -> FakeWs {
        FakeWs::on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// Serving `listener`: every connection is upgraded and handed over in order.
    pub fn on(listener: TcpListener) -> FakeWs {
        let url = format!("ws://{}/ws/2", listener.local_addr().unwrap());
        let (tx, conns) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // As the emulator does: without it a small frame after one the client has not
                // answered waits for a delayed ACK (~40 ms of real time), during which paused
                // Tokio time runs on and the client's watchdog fires with the frame still unsent.
                tcp.set_nodelay(true).unwrap();
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { continue };
                if tx.send(Conn { ws }).is_err() {
                    return;
                }
            }
        });
        FakeWs { url, conns }
    }

    pub async fn next_conn(&mut self) -> Conn {
        tokio::time::timeout(PATIENCE, self.conns.recv()).await.expect("no connection").expect("server gone")
    }
}

impl Conn {
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
    }

    /// The next text frame, as JSON.
    pub async fn recv_json(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("nothing received")
                .expect("connection ended")
                .unwrap();
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// Reads the greeting's answer: an `auth` frame; returns it.
    pub async fn greet_and_read_auth(&mut self) -> Value {
        self.send(r#"{"event":"info","version":2,"serverId":"fake","platform":{"status":1}}"#).await;
        let auth = self.recv_json().await;
        assert_eq!(auth["event"], "auth", "{auth}");
        auth
    }

    pub async fn auth_ok(&mut self) {
        self.send(r#"{"event":"auth","status":"OK","chanId":0,"userId":2001,"auth_id":"x","caps":{}}"#).await;
    }

    /// Greets, reads the auth frame, accepts it; returns the auth frame.
    pub async fn accept_auth(&mut self) -> Value {
        let auth = self.greet_and_read_auth().await;
        self.auth_ok().await;
        auth
    }
}

/// The auth frame's nonce.
pub fn nonce_of(auth: &Value) -> u64 {
    auth["authNonce"].as_u64().unwrap_or_else(|| panic!("authNonce is not a number: {auth}"))
}

pub async fn next(stream: &mut AccountStream) -> StreamEvent {
    tokio::time::timeout(PATIENCE, stream.next_event()).await.expect("no event").expect("stream ended")
}

pub async fn next_status(stream: &mut AccountStream) -> StreamState {
    match next(stream).await {
        StreamEvent::Status(state) => state,
        other => panic!("expected a status, got {other:?}"),
    }
}

/// The next snapshot's wallets.
pub async fn next_snapshot(stream: &mut AccountStream) -> Vec<bfx_core::WalletRow> {
    match next(stream).await {
        StreamEvent::Snapshot { wallets } => wallets,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}
