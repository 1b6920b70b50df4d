//! Test harness: the emulator in-process on `127.0.0.1:0`, and a raw HTTP/1.1 client.
//!
//! The client writes requests byte for byte (so a test controls exactly which body is sent and
//! which was signed) and reads the response as received, so a chunked or split body would show.

#![allow(dead_code, reason = "each test file uses part of the harness")]

pub mod ws;

use std::net::{IpAddr, SocketAddr};

use bfx_core::Nonce;
use bfx_core::sign::{sign, sign_payload};
use bfx_sim::{SimOptions, SimState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A small state for tests: every amount form the spec mentions, and keys with different scopes.
pub const TEST_STATE: &str = r#"
[[account]]
name = "alice"
user_id = 7
email = "alice@example.com"
  [[account.key]]
  key = "k-alice"
  secret = "s-alice"
  permissions = { account = "r", wallets = "r", withdraw = "" }
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "1e-8"
  unsettled_interest = "0"
  available = "1e-8"
  [[account.wallet]]
  type = "exchange"
  currency = "ETH"
  balance = "0.123456789012345678"
  unsettled_interest = "0"
  last_change = "Deposit"
  [[account.wallet]]
  type = "margin"
  currency = "USD"
  balance = "-0.00000001"
  unsettled_interest = "2.5E-7"

[[account]]
name = "empty"
user_id = 8
email = "empty@example.com"
  [[account.key]]
  key = "k-empty"
  secret = "s-empty"
  permissions = { wallets = "r", eaas_agreement = "rw" }

[[ticker]]
symbol = "tBTCUSD"
row = ["114687.475806", "12.5", "114710.415596", "8.25", "-936.648312", "-0.0081", "114698.945701", "8.7185", "117023.221141", "113322.558353"]

[[ticker]]
symbol = "tAVAX:USD"
row = ["31.765020", "5256.8297", "31.771374", "3679.7808", "-1.248013", "-0.0378", "31.768197", "2203461.5310", "33.412404", "null"]

[[ticker]]
symbol = "fUSD"
row = ["0.000123", "0.000112", "30", "1234567.89", "0.000115", "2", "234567.12", "-0.000003", "-0.0254", "0.000115", "123456789.5", "0.00013", "0.00011", "null", "null", "54321000.5"]

[conf]
"pub:map:currency:sym" = [["UST", "USDt"], ["UDC", "USDC"]]
"pub:list:currency" = ["BTC", "ETH", "USD"]
"#;

pub const BTC_ROW: &str = r#"["tBTCUSD",114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,114698.945701,8.7185,117023.221141,113322.558353]"#;
pub const AVAX_ROW: &str = r#"["tAVAX:USD",31.765020,5256.8297,31.771374,3679.7808,-1.248013,-0.0378,31.768197,2203461.5310,33.412404,null]"#;
pub const FUSD_ROW: &str = r#"["fUSD",0.000123,0.000112,30,1234567.89,0.000115,2,234567.12,-0.000003,-0.0254,0.000115,123456789.5,0.00013,0.00011,null,null,54321000.5]"#;

pub fn test_state() -> SimState {
    SimState::from_toml(TEST_STATE, "test-state.toml").unwrap()
}

/// A running emulator; dropping it without `stop` leaves the task to the test runtime's end.
pub struct Sim {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Sim {
    /// With heartbeats an hour apart: tests compare frames exactly, and on a slow enough machine a
    /// 15 s heartbeat would come between two of them (the heartbeat tests set their own interval).
    pub async fn start(state: SimState) -> Sim {
        Sim::start_with(state, SimOptions::default().with_ws_heartbeat(std::time::Duration::from_secs(3600)))
            .await
    }

    pub async fn start_with(state: SimState, options: SimOptions) -> Sim {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bfx_sim::serve_with(listener, state, options, async move {
            let _ = stopped.await;
        }));
        Sim { addr, stop, task }
    }

    /// An admin API request with an optional JSON body; returns the status and the parsed JSON
    /// answer, after checking it came as one `application/json` piece.
    pub async fn admin(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let mut request = Request::new(method, path);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.as_bytes());
        }
        admin_json(self.send(&request).await)
    }

    /// Writes `request` and reads everything until the server closes the connection.
    pub async fn raw(&self, request: &Request) -> Vec<u8> {
        raw(self.addr, request).await
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(&Request::new("GET", path)).await
    }

    pub async fn send(&self, request: &Request) -> Reply {
        send(TcpStream::connect(self.addr).await.unwrap(), request).await
    }

    /// Sends from a given loopback address (e.g. 127.0.0.2), to test per-IP budgets.
    pub async fn send_from(&self, ip: IpAddr, request: &Request) -> Reply {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
        send(socket.connect(self.addr).await.unwrap(), request).await
    }

    /// An authenticated POST signed over `signed`, sending `sent` (`None` = no body at all).
    pub async fn auth(
        &self,
        endpoint: &str,
        key: &str,
        secret: &str,
        nonce: u64,
        body: Option<&[u8]>,
    ) -> Reply {
        let request = Request::signed(endpoint, key, secret, nonce, body.unwrap_or_default(), body);
        self.send(&request).await
    }
}

/// [`Sim::raw`] for a server known by its address only.
pub async fn raw(addr: SocketAddr, request: &Request) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request.to_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("read failed after {} bytes: {e}", received.len()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// `None`: no body and no `Content-Length`.
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request { method: method.to_owned(), path: path.to_owned(), headers: Vec::new(), body: None }
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Request {
        self.body = Some(body.to_vec());
        self
    }

    /// `POST /v2/{endpoint}` with Bitfinex auth headers: the signature covers `signed_body`, the
    /// request carries `sent_body`.
    pub fn signed(
        endpoint: &str,
        key: &str,
        secret: &str,
        nonce: u64,
        signed_body: &[u8],
        sent_body: Option<&[u8]>,
    ) -> Request {
        let signature =
            sign(secret.as_bytes(), &format!("v2/{endpoint}"), Nonce::new_unchecked(nonce), signed_body);
        let mut request = Request::new("POST", &format!("/v2/{endpoint}"))
            .header("Content-Type", "application/json")
            .header("bfx-apikey", key)
            .header("bfx-nonce", &nonce.to_string())
            .header("bfx-signature", &signature);
        request.body = sent_body.map(<[u8]>::to_vec);
        request
    }

    /// Like [`Request::signed`] with a nonce header text that need not be a number, signed as is.
    pub fn signed_raw_nonce(endpoint: &str, key: &str, secret: &str, nonce: &str, body: &[u8]) -> Request {
        let message = [format!("/api/v2/{endpoint}{nonce}").as_bytes(), body].concat();
        Request::new("POST", &format!("/v2/{endpoint}"))
            .header("bfx-apikey", key)
            .header("bfx-nonce", nonce)
            .header("bfx-signature", &sign_payload(secret.as_bytes(), &message))
            .body(body)
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut head =
            format!("{} {} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = &self.body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_deref().unwrap_or_default());
        bytes
    }
}

/// Status and parsed JSON of an admin answer, checking it is one `application/json` piece.
#[track_caller]
pub fn admin_json(reply: Reply) -> (u16, serde_json::Value) {
    assert_eq!(reply.header("content-type"), Some("application/json"), "{reply:?}");
    assert_eq!(reply.header("content-length"), Some(reply.body.len().to_string().as_str()), "{reply:?}");
    let json = serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {reply:?}"));
    (reply.status, json)
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Lowercase names, in order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Asserts status and exact body, and that the body came as one JSON piece.
    #[track_caller]
    pub fn assert(&self, status: u16, body: &str) {
        assert_eq!((self.status, self.body.as_str()), (status, body), "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"), "{self:?}");
        assert_eq!(self.header("content-length"), Some(body.len().to_string().as_str()), "{self:?}");
        assert_eq!(self.header("transfer-encoding"), None, "{self:?}");
    }

    #[track_caller]
    pub fn assert_error(&self, code: i64, message: &str) {
        self.assert(500, &format!("[\"error\",{code},\"{message}\"]"));
    }
}

/// Writes the request and reads one response: headers, then exactly `Content-Length` body bytes
/// (or to EOF if there is none).
async fn send(mut stream: TcpStream, request: &Request) -> Reply {
    stream.write_all(&request.to_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(reply) = parse_complete(&received) {
            return reply;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            return parse_complete(&received)
                .or_else(|| parse_head(&received).map(|(reply, start)| with_body(reply, &received[start..])))
                .unwrap_or_else(|| {
                    panic!("connection closed mid-response: {:?}", String::from_utf8_lossy(&received))
                });
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

fn parse_complete(received: &[u8]) -> Option<Reply> {
    let (reply, start) = parse_head(received)?;
    let length: usize = reply.header("content-length")?.parse().unwrap();
    let body = received.get(start..start + length)?;
    Some(with_body(reply, body))
}

fn with_body(mut reply: Reply, body: &[u8]) -> Reply {
    reply.body = String::from_utf8(body.to_vec()).unwrap();
    reply
}

fn parse_head(received: &[u8]) -> Option<(Reply, usize)> {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&received[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    Some((Reply { status, headers, body: String::new() }, end + 4))
}
