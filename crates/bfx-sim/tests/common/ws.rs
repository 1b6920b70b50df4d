//! WebSocket test client: connects to `/ws/2`, sends text frames, and reads frames as received so
//! tests can assert them exactly (with the random `serverId`, `auth_id` and `ts` masked).
//!
//! An absence is proved by a barrier, never by waiting: something the server must send after
//! anything it would have sent, asserted as the very next frame ([`Ws::barrier`], [`hub_barrier`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bfx_core::sign::sign_payload;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};

use super::Sim;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a test waits for an expected frame.
const FRAME_WAIT: Duration = Duration::from_secs(5);

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Connects and reads the `info` welcome, checking its shape.
    pub async fn open(addr: SocketAddr) -> Ws {
        let mut ws = Ws::connect(addr).await.unwrap();
        ws.welcome().await;
        ws
    }

    /// Connects without reading anything.
    pub async fn connect(addr: SocketAddr) -> Result<Ws, Error> {
        // Nagle off, as the emulator has it: in paused time a frame held back for a delayed ACK
        // would let the clock run on while it waits in the kernel.
        let (stream, _) =
            tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws/2"), None, true).await?;
        Ok(Ws { stream })
    }

    /// Connects from a given loopback address (e.g. 127.0.0.2), to test per-IP limits.
    pub async fn connect_from(addr: SocketAddr, ip: IpAddr) -> Result<Ws, Error> {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (stream, _) =
            tokio_tungstenite::client_async(format!("ws://{addr}/ws/2"), MaybeTlsStream::Plain(tcp)).await?;
        Ok(Ws { stream })
    }

    /// Reads the welcome: `{"event":"info","version":2,"serverId":UUID,"platform":{"status":1}}`.
    pub async fn welcome(&mut self) {
        let text = self.text().await;
        let (masked, server_id) = mask(&text, "serverId");
        assert_eq!(masked, r#"{"event":"info","version":2,"serverId":"*","platform":{"status":1}}"#);
        assert_uuid(&server_id);
    }

    pub async fn send(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    /// The next frame, which must come within [`FRAME_WAIT`].
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        tokio::time::timeout(FRAME_WAIT, self.stream.next()).await.expect("no frame within 5 s")
    }

    /// The next frame, which must be text.
    pub async fn text(&mut self) -> String {
        match self.next().await {
            Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Asserts the next frame's exact text.
    pub async fn expect(&mut self, frame: &str) {
        assert_eq!(self.text().await, frame);
    }

    /// Sends `{"event":"ping","cid":cid}` and asserts the very next frame is its pong. A session
    /// reads its connection's frames one at a time and sends everything it has to say about one
    /// before reading the next, so whatever this connection's earlier frames (auth, subscribe,
    /// calc) would bring comes before the pong. Admin changes reach the session by another path,
    /// unordered with the ping: for those, [`hub_barrier`].
    pub async fn barrier(&mut self, cid: u64) {
        self.send(&format!(r#"{{"event":"ping","cid":{cid}}}"#)).await;
        let (pong, _) = mask_number(&self.text().await, "ts");
        assert_eq!(pong, format!(r#"{{"event":"pong","ts":*,"cid":{cid}}}"#));
    }

    /// Reads every frame that arrives within `quiet` of the previous one.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<String> {
        let mut frames = Vec::new();
        while let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(quiet, self.stream.next()).await {
            frames.push(text.as_str().to_owned());
        }
        frames
    }

    /// Asserts a close frame with `code` and `reason`, then the end of the stream.
    pub async fn expect_close(&mut self, code: u16, reason: &str) {
        match self.next().await {
            Some(Ok(Message::Close(Some(CloseFrame { code: got, reason: why })))) => {
                assert_eq!((u16::from(got), why.as_str()), (code, reason));
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
        self.expect_end().await;
    }

    /// Asserts the stream ends (after a close handshake, or on a reset).
    pub async fn expect_end(&mut self) {
        match self.next().await {
            None | Some(Err(Error::ConnectionClosed | Error::AlreadyClosed)) => {}
            Some(Err(Error::Protocol(_) | Error::Io(_))) => {}
            other => panic!("expected the end of the stream, got {other:?}"),
        }
    }

    /// Sends an `auth` for `key` signed with `secret` (payload `"AUTH" + nonce`, nonce a number)
    /// and returns the reply with `auth_id` masked as `*`.
    pub async fn auth(&mut self, key: &str, secret: &str, nonce: u64) -> String {
        self.send(&auth_frame(key, secret, nonce)).await;
        self.auth_reply().await
    }

    /// The next frame, an `auth` reply, with `auth_id` (when present, a UUID) masked as `*`.
    pub async fn auth_reply(&mut self) -> String {
        let text = self.text().await;
        if !text.contains(r#""auth_id":"#) {
            return text;
        }
        let (masked, auth_id) = mask(&text, "auth_id");
        assert_uuid(&auth_id);
        masked
    }
}

pub const MAINTENANCE_START: &str = r#"{"event":"info","code":20060,"msg":"Entering in Maintenance mode. Please pause any activity and resume after receiving the info message 20061 (it should take 120 seconds at most)."}"#;
pub const MAINTENANCE_END: &str = r#"{"event":"info","code":20061,"msg":"Maintenance ended. You can resume normal activity. It is advised to unsubscribe/subscribe again all channels."}"#;

/// A maintenance window (info 20060 then 20061) sent through the admin API, asserted as the very
/// next two frames on each of `sockets`. Admin changes reach the sessions as events on ordered
/// channels (one for every session, one per account), each handled in full before the next and
/// an account's before the others' when both are ready, so whatever an earlier admin change would
/// bring a session comes before the info: the proof that it brought nothing.
pub async fn hub_barrier(sim: &Sim, sockets: &mut [&mut Ws]) {
    for (code, frame) in [(20060, MAINTENANCE_START), (20061, MAINTENANCE_END)] {
        let (status, body) = sim.admin("POST", "/sim/ws/info", Some(&format!(r#"{{"code":{code}}}"#))).await;
        assert_eq!((status, &body["code"]), (200, &json!(code)), "{body}");
        for ws in sockets.iter_mut() {
            ws.expect(frame).await;
        }
    }
}

/// An `auth` frame as the Python client builds it, with `authNonce` as a JSON number.
pub fn auth_frame(key: &str, secret: &str, nonce: u64) -> String {
    let payload = format!("AUTH{nonce}");
    let signature = sign_payload(secret.as_bytes(), payload.as_bytes());
    json!({"event": "auth", "apiKey": key, "authSig": signature, "authNonce": nonce, "authPayload": payload})
        .to_string()
}

/// The OK reply for a key whose scopes are all none but those listed as `(scope, read, write)`.
pub fn auth_ok(user_id: u64, granted: &[(&str, u8, u8)]) -> String {
    let scopes = [
        "account",
        "history",
        "orders",
        "positions",
        "funding",
        "settings",
        "wallets",
        "withdraw",
        "ui_withdraw",
        "bfxpay",
    ];
    let caps: Vec<String> = scopes
        .iter()
        .map(|scope| {
            let (read, write) =
                granted.iter().find(|(s, _, _)| s == scope).map_or((0, 0), |(_, r, w)| (*r, *w));
            format!(r#""{scope}":{{"read":{read},"write":{write}}}"#)
        })
        .collect();
    format!(
        r#"{{"event":"auth","status":"OK","chanId":0,"userId":{user_id},"auth_id":"*","caps":{{{}}}}}"#,
        caps.join(",")
    )
}

pub fn auth_failed(code: i64, msg: &str) -> String {
    format!(r#"{{"event":"auth","status":"FAILED","chanId":0,"code":{code},"msg":"{msg}"}}"#)
}

/// Replaces the string value of `"field":"…"` with `*`; returns the masked text and the value.
#[track_caller]
pub fn mask(text: &str, field: &str) -> (String, String) {
    let key = format!(r#""{field}":""#);
    let start = text.find(&key).unwrap_or_else(|| panic!("no {field} in {text}")) + key.len();
    let end = start + text[start..].find('"').unwrap();
    (format!("{}*{}", &text[..start], &text[end..]), text[start..end].to_owned())
}

/// Replaces the number value of `"field":123` with `*`; returns the masked text and the number.
#[track_caller]
pub fn mask_number(text: &str, field: &str) -> (String, u64) {
    let key = format!(r#""{field}":"#);
    let start = text.find(&key).unwrap_or_else(|| panic!("no {field} in {text}")) + key.len();
    let end = start + text[start..].find(|c: char| !c.is_ascii_digit()).unwrap();
    (format!("{}*{}", &text[..start], &text[end..]), text[start..end].parse().unwrap())
}

#[track_caller]
fn assert_uuid(text: &str) {
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{text}");
    assert!(text.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{text}");
}
