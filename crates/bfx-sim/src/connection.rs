//! Accepted connections, wrapped so a handler can cut its own connection short.
//!
//! The `drop` and `truncated` faults need what an HTTP response cannot express: no bytes at all,
//! or fewer body bytes than `Content-Length` promised. A handler leaves a [`CutOrder`] on its
//! connection; the stream then fails the write at that point and hyper closes the socket.
//!
//! The stream also bounds how long a request head may take: from the accept, or from the last
//! response bytes written, the head's closing `\r\n\r\n` must arrive within the head timeout,
//! else the read fails and hyper closes the connection (a client trickling header lines, or an
//! idle kept-alive connection). Upgraded (WebSocket) connections are exempt: their sessions time
//! out on their own.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// What happens to the rest of a connection's output once a handler has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CutOrder {
    /// Nothing more is written: the peer sees the connection close without a response.
    Drop,
    /// The response head goes out with this many body bytes, then the connection closes.
    AfterBody(usize),
}

/// A listener that sets `TCP_NODELAY` and wraps each connection in a [`CutStream`].
#[derive(Debug)]
pub(crate) struct CutListener {
    pub(crate) tcp: TcpListener,
    /// Longest a request head may take to arrive.
    pub(crate) head_timeout: Duration,
    /// Connections open at once (WebSockets included) before new ones are refused with a 503.
    pub(crate) max_connections: usize,
    /// Connections open now; each stream holds a [`Slot`] of it.
    pub(crate) live: Arc<AtomicUsize>,
}

/// One connection's place in [`CutListener::live`], given back when the stream is dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a connection over the cap: a 503 naming the cap, then the connection is closed once
/// the client's request is read (or after a second), so the client sees the answer, not a reset.
async fn refuse(mut tcp: TcpStream, cap: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!("bfx sim: at most {cap} connections at once; try again later\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
         connection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let refused = async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 1024];
        while tcp.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), refused).await;
}

impl Listener for CutListener {
    type Io = CutStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CutStream, SocketAddr) {
        let (tcp, addr) = loop {
            let (tcp, addr) = Listener::accept(&mut self.tcp).await;
            if self.live.load(Ordering::Acquire) < self.max_connections {
                break (tcp, addr);
            }
            tracing::warn!(%addr, cap = self.max_connections, "connection refused: too many connections");
            tokio::spawn(refuse(tcp, self.max_connections));
        };
        self.live.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.live.clone());
        // Responses go out in one write; Nagle's algorithm with delayed ACKs would otherwise add
        // ~40 ms to each kept-alive request.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY on an accepted connection: {e}");
        }
        let head = HeadWatch::new(self.head_timeout);
        let stream = CutStream {
            tcp,
            order: Arc::new(AtomicUsize::new(PASS)),
            cut: None,
            upgraded: Arc::new(AtomicBool::new(false)),
            head,
            _slot: slot,
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// The connection a request came on: the peer's address and a handle to cut the connection.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) addr: SocketAddr,
    order: Arc<AtomicUsize>,
    upgraded: Arc<AtomicBool>,
}

impl Peer {
    /// The client's IP, with IPv4-mapped IPv6 addresses folded to IPv4 so both count as one client.
    pub(crate) fn ip(&self) -> IpAddr {
        self.addr.ip().to_canonical()
    }

    /// Cuts this connection when the current response is written. Hyper writes a response only
    /// after its handler returned, so an order left by the handler applies to its own response.
    pub(crate) fn cut(&self, order: CutOrder) {
        self.order.store(order.code(), Ordering::Release);
    }

    /// Exempts this connection from the head timeout: it is being upgraded to a WebSocket.
    pub(crate) fn upgrading(&self) {
        self.upgraded.store(true, Ordering::Release);
    }
}

impl Connected<IncomingStream<'_, CutListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, CutListener>) -> Peer {
        let io = stream.io();
        Peer { addr: *stream.remote_addr(), order: io.order.clone(), upgraded: io.upgraded.clone() }
    }
}

/// A connection's standing order, as one atomic word: [`PASS`], [`DROP`], or `n + 1` for
/// "after `n` body bytes" (the count travels with the order, so this module needs to know no
/// fault's numbers).
const PASS: usize = 0;
const DROP: usize = usize::MAX;

impl CutOrder {
    fn code(self) -> usize {
        match self {
            CutOrder::Drop => DROP,
            // A body that long is never written whole anyway.
            CutOrder::AfterBody(n) => n.saturating_add(1).min(DROP - 1),
        }
    }

    fn from_code(code: usize) -> Option<CutOrder> {
        match code {
            PASS => None,
            DROP => Some(CutOrder::Drop),
            n => Some(CutOrder::AfterBody(n - 1)),
        }
    }
}

/// A TCP stream that writes normally until its [`Peer`] orders a cut.
#[derive(Debug)]
pub(crate) struct CutStream {
    tcp: TcpStream,
    order: Arc<AtomicUsize>,
    /// The cut in progress, once ordered.
    cut: Option<Cut>,
    /// Set by the WebSocket upgrade: no head timeout from then on.
    upgraded: Arc<AtomicBool>,
    head: HeadWatch,
    /// Counts this connection against the cap while it lives (WebSocket sessions included).
    _slot: Slot,
}

/// The head timeout: armed at the accept and after each write, disarmed once a head is complete.
#[derive(Debug)]
struct HeadWatch {
    timeout: Duration,
    /// `Some` while a request head is awaited.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Bytes of the head's closing `\r\n\r\n` seen so far.
    matched: u8,
}

impl HeadWatch {
    fn new(timeout: Duration) -> HeadWatch {
        HeadWatch { timeout, deadline: Some(Box::pin(tokio::time::sleep(timeout))), matched: 0 }
    }

    /// A response went out: the next request's head is awaited from now.
    fn rearm(&mut self) {
        let at = tokio::time::Instant::now() + self.timeout;
        match &mut self.deadline {
            Some(deadline) => deadline.as_mut().reset(at),
            None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        self.matched = 0;
    }

    /// Fails once the awaited head is overdue.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(deadline) = &mut self.deadline else {
            return Poll::Pending;
        };
        std::task::ready!(deadline.as_mut().poll(cx));
        Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "request head not received in time"))
    }

    /// Looks for the head's end in bytes just read; disarms once found.
    fn saw(&mut self, bytes: &[u8]) {
        const HEAD_END: &[u8; 4] = b"\r\n\r\n";
        if self.deadline.is_none() {
            return;
        }
        for &byte in bytes {
            self.matched = if byte == HEAD_END[usize::from(self.matched)] {
                self.matched + 1
            } else {
                u8::from(byte == b'\r')
            };
            if self.matched == 4 {
                self.deadline = None;
                self.matched = 0;
                return;
            }
        }
    }
}

/// Progress through a response being cut: how much of it may still be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    /// Bytes of the head's closing `\r\n\r\n` seen so far (4 = the head is complete).
    head_end: u8,
    /// Body bytes still allowed once the head is complete.
    body_left: usize,
}

impl Cut {
    fn new(order: CutOrder) -> Cut {
        match order {
            // No head and no body: the first byte already fails.
            CutOrder::Drop => Cut { head_end: 4, body_left: 0 },
            CutOrder::AfterBody(n) => Cut { head_end: 0, body_left: n },
        }
    }

    /// Advances over `bytes` and returns how many of them may be written.
    fn pass(&mut self, bytes: &[u8]) -> usize {
        const HEAD_END: &[u8; 4] = b"\r\n\r\n";
        let mut allowed = 0;
        for &byte in bytes {
            if self.head_end < 4 {
                self.head_end = if byte == HEAD_END[usize::from(self.head_end)] {
                    self.head_end + 1
                } else {
                    u8::from(byte == b'\r')
                };
            } else if self.body_left > 0 {
                self.body_left -= 1;
            } else {
                break;
            }
            allowed += 1;
        }
        allowed
    }

    /// Writes what the cut still allows of `buf`, or fails once nothing is allowed.
    fn poll_write(
        &mut self,
        tcp: Pin<&mut TcpStream>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let allowed = {
            let mut probe = *self;
            probe.pass(buf)
        };
        if allowed == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection cut by a fault",
            )));
        }
        let written = std::task::ready!(tcp.poll_write(cx, &buf[..allowed]))?;
        self.pass(&buf[..written]);
        Poll::Ready(Ok(written))
    }
}

impl CutStream {
    /// After response bytes went out, the next request's head is awaited from now.
    fn wrote(&mut self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) && !self.upgraded.load(Ordering::Acquire) {
            self.head.rearm();
        }
    }

    /// Starts the cut ordered for this connection, if one was ordered since the last write.
    fn follow_order(&mut self) {
        if self.cut.is_none() {
            self.cut = CutOrder::from_code(self.order.load(Ordering::Acquire)).map(Cut::new);
        }
    }
}

impl AsyncRead for CutStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.upgraded.load(Ordering::Acquire) {
            return Pin::new(&mut this.tcp).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.head.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.head.poll_expired(cx).map(Err),
        }
    }
}

impl AsyncWrite for CutStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.follow_order();
        let written = match &mut this.cut {
            None => Pin::new(&mut this.tcp).poll_write(cx, buf),
            Some(cut) => cut.poll_write(Pin::new(&mut this.tcp), cx, buf),
        };
        this.wrote(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.follow_order();
        let written = match &mut this.cut {
            None => Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs),
            // A cut writes slice by slice; a short vectored write is allowed.
            Some(cut) => {
                let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
                cut.poll_write(Pin::new(&mut this.tcp), cx, first)
            }
        };
        this.wrote(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_keep_their_byte_count() {
        assert_eq!(CutOrder::from_code(PASS), None);
        for order in [CutOrder::Drop, CutOrder::AfterBody(0), CutOrder::AfterBody(37)] {
            assert_eq!(CutOrder::from_code(order.code()), Some(order));
        }
        assert_eq!(
            CutOrder::from_code(CutOrder::AfterBody(usize::MAX).code()),
            Some(CutOrder::AfterBody(DROP - 2))
        );
    }

    #[test]
    fn a_truncating_cut_passes_the_head_and_part_of_the_body() {
        let mut cut = Cut::new(CutOrder::AfterBody(3));
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789";
        let head = response.len() - 10;
        assert_eq!(cut.pass(response), head + 3);
        assert_eq!(cut.pass(b"x"), 0);
    }

    #[test]
    fn a_truncating_cut_finds_the_head_end_across_writes() {
        let mut cut = Cut::new(CutOrder::AfterBody(2));
        assert_eq!(cut.pass(b"HTTP/1.1 200 OK\r\na: b\r"), 22);
        assert_eq!(cut.pass(b"\n\r"), 2);
        assert_eq!(cut.pass(b"\nbody"), 3);
        assert_eq!(cut.pass(b"y"), 0);
        // A lone "\r\n\r" then "\r\r\n\r\n" still ends the head only at the real end.
        let mut cut = Cut::new(CutOrder::AfterBody(0));
        assert_eq!(cut.pass(b"a\r\n\r\r\n\r\nz"), 8);
    }

    #[test]
    fn a_dropping_cut_passes_nothing() {
        let mut cut = Cut::new(CutOrder::Drop);
        assert_eq!(cut.pass(b"HTTP/1.1 200 OK\r\n\r\n"), 0);
    }
}
