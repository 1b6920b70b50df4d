//! Opening the WebSocket: TCP, then TLS for `wss://` (rustls with the process's crypto provider and
//! the platform's verifier, as the REST client uses), then the HTTP upgrade. `ws://` (the
//! emulator) is plain TCP. tokio-tungstenite's own TLS features are not used, so the crate brings
//! no second TLS stack or root store.

use std::sync::Arc;
use std::time::Duration;

use rustls_platform_verifier::ConfigVerifierExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, http::Uri};

use crate::client::Client;
use crate::error::SocketError;

/// The largest WebSocket message and frame the client accepts. Bitfinex's largest (a wallet
/// snapshot of a big account) is well under a MiB; the caps keep a hostile server from making
/// the client buffer without bound (tungstenite's own defaults are 64 and 16 MiB).
pub(crate) const MAX_MESSAGE_BYTES: usize = 8 << 20;
pub(crate) const MAX_FRAME_BYTES: usize = 4 << 20;
/// Per-connection buffers: tungstenite's defaults (128 KiB each) made 1 000 idle account
/// sockets cost ~250 MiB. Reads go in 4 KiB steps (a larger message still arrives whole, up to
/// [`MAX_MESSAGE_BYTES`]); the client sends only `auth`, pings and the odd `calc`.
const READ_BUFFER_BYTES: usize = 4 << 10;
const WRITE_BUFFER_BYTES: usize = 4 << 10;
/// Unsent output beyond this fails the send: a server that stops reading cannot make the
/// client buffer without bound.
const MAX_WRITE_BUFFER_BYTES: usize = 1 << 20;

/// A byte stream the WebSocket runs over: plain TCP or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Boxed (~300 bytes inline): a socket lives for the whole session, and an async fn keeps a moved
/// argument twice, so inline it is held several times over in each account's task.
pub(crate) type Socket = Box<WebSocketStream<Box<dyn Io>>>;

/// Opens a connection to `client`'s WebSocket URL at `place` (its turn in the connection
/// budget, [`super::gate::ConnectionGate::reserve`]), within `limit` (the wait not included).
pub(crate) async fn open(client: &Client, place: Instant, limit: Duration) -> Result<Socket, SocketError> {
    if place > Instant::now() {
        tracing::debug!(wait_ms = (place - Instant::now()).as_millis(), "waiting for the connection budget");
    }
    tokio::time::sleep_until(place).await;
    let url = &client.endpoints.ws_url;
    timeout(limit, connect(url)).await.map_err(|_| SocketError::ConnectTimeout { url: url.clone(), limit })?
}

/// Connects to `url` (`ws://` or `wss://`) and completes the upgrade.
pub(crate) async fn connect(url: &str) -> Result<Socket, SocketError> {
    let invalid = |reason: String| SocketError::Url { url: url.to_owned(), reason };
    let uri: Uri = url.parse().map_err(|e| invalid(format!("{e}")))?;
    let secure = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(invalid("the scheme must be ws or wss".to_owned())),
    };
    let Some(host) = uri.host() else {
        return Err(invalid("no host".to_owned()));
    };
    // `Uri::host` keeps IPv6 brackets; sockets and TLS names want the bare address.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    // An address needs no lookup: Tokio resolves names on a blocking thread, and a thousand
    // sockets opening at once (an emulator, a gateway by address) would start hundreds of them.
    let connected = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => TcpStream::connect((ip, port)).await,
        Err(_) => TcpStream::connect((host, port)).await,
    };
    let tcp = connected.map_err(|cause| SocketError::Connect { url: url.to_owned(), cause })?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if secure {
        crate::install_crypto_provider();
        let config = ClientConfig::with_platform_verifier()
            .map_err(|e| SocketError::TlsSetup { url: url.to_owned(), cause: e.to_string() })?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| invalid(format!("{host:?} is not a valid TLS server name: {e}")))?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|cause| SocketError::TlsHandshake { url: url.to_owned(), cause })?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES);
    let (socket, _response) =
        tokio_tungstenite::client_async_with_config(url, io, Some(config)).await.map_err(|e| {
            let status = match &e {
                tungstenite::Error::Http(response) => Some(response.status().as_u16()),
                _ => None,
            };
            SocketError::Upgrade { url: url.to_owned(), status, cause: e.to_string() }
        })?;
    Ok(Box::new(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_urls_fail_without_connecting() {
        for (url, expected) in [
            ("http://127.0.0.1:1/ws/2", "the scheme must be ws or wss"),
            ("ws:///ws/2", "invalid WebSocket URL"),
            ("not a url", "invalid WebSocket URL"),
        ] {
            let Err(error) = connect(url).await else { panic!("{url} connected") };
            assert!(matches!(error, SocketError::Url { .. }), "{url}: {error:?}");
            assert!(error.to_string().contains(expected), "{url}: {error}");
            assert_eq!(error.kind(), crate::ErrorKind::Config);
        }
    }

    /// `wss://` goes through rustls (set up with the platform verifier, no panic): a server that
    /// is not TLS fails the handshake, named as such.
    #[tokio::test]
    async fn wss_speaks_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut tcp, b"HTTP/1.1 400 Bad Request\r\n\r\n").await.unwrap();
        });
        let Err(error) = connect(&format!("wss://{addr}/ws/2")).await else { panic!("connected") };
        assert!(matches!(error, SocketError::TlsHandshake { .. }), "{error:?}");
        assert!(error.to_string().contains("TLS handshake"), "{error}");
        assert_eq!(error.kind(), crate::ErrorKind::Network);
    }

    /// A message over the cap (here a 5 MiB frame, over the frame cap but under tungstenite's own
    /// 16 MiB default) ends the read with a capacity error instead of being buffered.
    #[tokio::test]
    async fn oversized_frames_are_refused() {
        use futures_util::{SinkExt, StreamExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let big = "[".repeat(MAX_FRAME_BYTES + (1 << 20));
            let _ = ws.send(tungstenite::Message::text(big)).await;
            let _ = ws.next().await;
        });
        let mut ws = connect(&format!("ws://{addr}/ws/2")).await.unwrap();
        let next = ws.next().await.unwrap();
        assert!(matches!(next, Err(tungstenite::Error::Capacity(_))), "{:?}", next.map(|m| m.len()));
    }
}
