//! The account stream keeps going: reconnects after a close, a silent connection (heartbeat
//! watchdog) or a server restart (20051), each with a fresh auth and a REST snapshot; polls REST
//! while no socket can be had, and goes live again once one can.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::time::Duration;

use bfx_client::{
    AccountStream, Client, Endpoints, Error, ErrorKind, SocketError, StreamEvent, StreamOptions, StreamState,
};
use common::fake_ws::{Conn, FakeWs, next, next_snapshot, next_status, nonce_of};
use common::{STATE, add_fault, creds, sim_with};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// The connection budget lifted (`connections_are_staggered_across_clones` covers it).
fn client(rest_url: &str, ws_url: &str) -> Client {
    client_with_budget(rest_url, ws_url, 1000, Duration::from_secs(1))
}

fn client_with_budget(rest_url: &str, ws_url: &str, connections: u32, window: Duration) -> Client {
    let endpoints = Endpoints { ws_url: ws_url.to_owned(), ..Endpoints::single(rest_url).unwrap() };
    Client::builder()
        .endpoints(endpoints)
        .in_memory_nonces()
        .ws_connection_limit(connections, window)
        .build()
        .unwrap()
}

fn quick() -> StreamOptions {
    StreamOptions {
        heartbeat_interval: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        auth_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(100),
        poll_interval: Duration::from_millis(100),
        ..StreamOptions::default()
    }
}

/// Connects, authenticates, and reads through Live and the REST snapshot; returns the auth nonce.
async fn go_live(fake: &mut FakeWs, stream: &mut AccountStream) -> (Conn, u64) {
    let mut conn = fake.next_conn().await;
    let nonce = nonce_of(&conn.accept_auth().await);
    assert_eq!(next_status(stream).await, StreamState::Live);
    assert_eq!(next_snapshot(stream).await.len(), 4, "the REST snapshot");
    (conn, nonce)
}

async fn reconnecting_error(stream: &mut AccountStream) -> std::sync::Arc<Error> {
    match next_status(stream).await {
        StreamState::Reconnecting { attempt: 1, after, error } => {
            assert!(after <= Duration::from_millis(20), "{after:?}");
            error
        }
        other => panic!("expected Reconnecting attempt 1, got {other:?}"),
    }
}

#[tokio::test]
async fn a_closed_connection_is_replaced_with_fresh_auth_and_a_rest_snapshot() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let mut stream = client(&sim.url, &fake.url).account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let (mut conn, first) = go_live(&mut fake, &mut stream).await;

    conn.ws.close(None).await.unwrap();
    let error = reconnecting_error(&mut stream).await;
    assert!(matches!(*error, Error::Socket(SocketError::Closed { .. })), "{error:?}");
    assert!(error.to_string().contains("closed"), "{error}");
    assert_eq!((error.kind(), error.code()), (ErrorKind::Network, None));
    let (_conn, second) = go_live(&mut fake, &mut stream).await;
    assert!(second > first, "a fresh nonce: {second} > {first}");

    // A connection dropped without a close frame counts the same.
    drop(_conn);
    reconnecting_error(&mut stream).await;
    let (_conn, third) = go_live(&mut fake, &mut stream).await;
    assert!(third > second);
}

#[tokio::test(start_paused = true)]
async fn silence_for_two_heartbeat_intervals_reconnects() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let options = StreamOptions { heartbeat_interval: Duration::from_millis(150), ..quick() };
    let mut stream = client(&sim.url, &fake.url).account_stream(creds("alice-key", "alice-secret"), options);
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let (mut conn, _) = go_live(&mut fake, &mut stream).await;

    // Heartbeats every 100 ms keep it alive well past the 300 ms watchdog…
    let start = Instant::now();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        conn.send(r#"[0,"hb"]"#).await;
    }
    assert!(fake.conns.try_recv().is_err(), "no reconnect while heartbeats flow");
    // …and when they stop, the stream reconnects after exactly 300 ms of silence (paused time:
    // the clock moves only when every task waits, so the watchdog fires at its deadline).
    let silent = Instant::now();
    let error = reconnecting_error(&mut stream).await;
    let waited = silent.elapsed();
    assert!(matches!(*error, Error::Socket(SocketError::Silent { .. })), "{error:?}");
    assert!(error.to_string().contains("heartbeat"), "{error}");
    assert_eq!(waited, Duration::from_millis(300));
    assert_eq!(start.elapsed(), Duration::from_millis(1100));
    go_live(&mut fake, &mut stream).await;
    drop(conn);
}

#[tokio::test]
async fn info_20051_reconnects() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let mut stream = client(&sim.url, &fake.url).account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let (mut conn, first) = go_live(&mut fake, &mut stream).await;
    conn.send(r#"{"event":"info","code":20051,"msg":"Stopping. Please try to reconnect"}"#).await;
    let error = reconnecting_error(&mut stream).await;
    assert!(matches!(*error, Error::Socket(SocketError::Restarting)), "{error:?}");
    assert_eq!((error.code(), error.kind()), (Some(20051), ErrorKind::Unavailable));
    assert!(error.to_string().contains("20051"), "{error}");
    let (_conn, second) = go_live(&mut fake, &mut stream).await;
    assert!(second > first);
}

#[tokio::test]
async fn no_socket_means_polling_until_one_can_be_had() {
    let sim = sim_with(STATE).await;
    // A port nothing listens on (yet): connections are refused.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let ws_url = format!("ws://{port}/ws/2");
    // The client's connection budget counts refused attempts too; lifted here.
    let mut stream = client(&sim.url, &ws_url).account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let StreamState::Reconnecting { attempt: 1, error, .. } = next_status(&mut stream).await else {
        panic!("expected Reconnecting")
    };
    assert!(matches!(*error, Error::Socket(SocketError::Connect { .. })), "{error:?}");
    assert!(error.to_string().contains("cannot connect"), "{error}");
    let StreamState::Polling { error } = next_status(&mut stream).await else { panic!("expected Polling") };
    assert!(matches!(*error, Error::Socket(SocketError::Connect { .. })), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Network);
    // Snapshots from REST polls, with no status changes while the socket is retried.
    for _ in 0..3 {
        assert_eq!(next_snapshot(&mut stream).await.len(), 4);
    }

    // The server appears: the stream goes live on it.
    let mut fake = FakeWs::on(TcpListener::bind(port).await.unwrap());
    let mut conn = fake.next_conn().await;
    conn.accept_auth().await;
    loop {
        match next(&mut stream).await {
            StreamEvent::Snapshot { .. } => continue, // a poll that was under way
            StreamEvent::Status(StreamState::Live) => break,
            other => panic!("expected Live, got {other:?}"),
        }
    }
    assert_eq!(next_snapshot(&mut stream).await.len(), 4, "the REST snapshot after connecting");
    conn.send(r#"[0,"wu",["exchange","BTC",3,0,null,null,null]]"#).await;
    assert!(matches!(next(&mut stream).await, StreamEvent::Wallet(row) if row.currency == "BTC"));
}

/// A socket that opens but never answers `auth` is no socket either: after `polling_after` auth
/// timeouts in a row, REST is polled while the socket is retried.
#[tokio::test(start_paused = true)]
async fn a_socket_that_never_answers_auth_falls_back_to_polling() {
    let sim = sim_with(STATE).await;
    // Every connection is upgraded and then left unanswered: the test never takes them.
    let fake = FakeWs::start().await;
    let options = StreamOptions { auth_timeout: Duration::from_millis(500), ..quick() };
    let mut stream = client(&sim.url, &fake.url).account_stream(creds("alice-key", "alice-secret"), options);
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let timed_out = |error: &Error| matches!(error, Error::Socket(SocketError::AuthTimeout { limit }) if *limit == Duration::from_millis(500));
    let StreamState::Reconnecting { attempt: 1, error, .. } = next_status(&mut stream).await else {
        panic!("expected Reconnecting")
    };
    assert!(timed_out(&error), "{error:?}");
    let StreamState::Polling { error } = next_status(&mut stream).await else { panic!("expected Polling") };
    assert!(timed_out(&error), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Network);
    for _ in 0..3 {
        assert_eq!(next_snapshot(&mut stream).await.len(), 4, "REST data while the socket stays mute");
    }
    stream.close().await;
    drop(fake);
}

/// While polling, a failed poll makes what is known stale: `PollFailed` says why, once for a run
/// of failed polls, and the next poll that succeeds says `Polling` again before its snapshot.
#[tokio::test(start_paused = true)]
async fn a_failed_poll_is_said_until_a_poll_succeeds() {
    let sim = sim_with(STATE).await;
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let ws_url = format!("ws://{port}/ws/2");
    let mut stream = client(&sim.url, &ws_url).account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    assert!(matches!(next_status(&mut stream).await, StreamState::Reconnecting { .. }));
    let polling = next_status(&mut stream).await;
    assert!(matches!(polling, StreamState::Polling { .. }), "{polling:?}");
    assert_eq!(next_snapshot(&mut stream).await.len(), 4);

    // The next two polls meet Bitfinex's maintenance error (not retried by the client).
    add_fault(&sim.url, r#"{"endpoint":"auth/r/wallets","kind":"maintenance","count":2}"#).await;
    let failed = loop {
        match next(&mut stream).await {
            StreamEvent::Snapshot { .. } => continue, // a poll made before the fault
            StreamEvent::Status(state) => break state,
            other => panic!("expected PollFailed, got {other:?}"),
        }
    };
    let StreamState::PollFailed { error } = &failed else { panic!("expected PollFailed, got {failed:?}") };
    assert!(matches!(**error, Error::Api { code: 20060, endpoint: "auth/r/wallets", .. }), "{error:?}");
    assert_eq!((error.kind(), error.code()), (ErrorKind::Unavailable, Some(20060)));
    assert_eq!(failed.error().map(Error::kind), Some(ErrorKind::Unavailable));
    // The second failure says nothing new; the success after it says Polling (with the socket's
    // failure, as before), then its data.
    assert_eq!(next_status(&mut stream).await, polling);
    assert_eq!(next_snapshot(&mut stream).await.len(), 4);
    stream.close().await;
}

#[tokio::test]
async fn an_upgrade_refused_counts_as_no_socket() {
    let sim = sim_with(STATE).await;
    // An HTTP server that is not a WebSocket endpoint: the emulator's REST URL itself.
    let ws_url = format!("{}/not-a-socket", sim.url.replacen("http", "ws", 1));
    let mut stream = client(&sim.url, &ws_url).account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    assert!(matches!(next_status(&mut stream).await, StreamState::Reconnecting { .. }));
    let StreamState::Polling { error } = next_status(&mut stream).await else { panic!("expected Polling") };
    let Error::Socket(SocketError::Upgrade { status, .. }) = &*error else { panic!("{error:?}") };
    assert_eq!(*status, Some(404), "{error}");
    assert!(error.to_string().contains("upgrade"), "{error}");
    assert_eq!(next_snapshot(&mut stream).await.len(), 4);
    stream.close().await;
}

/// Paused Tokio time: the stream, the emulator and the fake server share this runtime's clock, so
/// the window asserted is the code's, not the machine's, and passes without real waiting.
#[tokio::test(start_paused = true)]
async fn connections_are_staggered_across_clones() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let window = Duration::from_millis(800);
    let client = client_with_budget(&sim.url, &fake.url, 2, window);
    let start = Instant::now();
    let mut streams: Vec<AccountStream> = ["alice", "bob", "alice"]
        .iter()
        .map(|name| {
            client.clone().account_stream(creds(&format!("{name}-key"), &format!("{name}-secret")), quick())
        })
        .collect();
    let mut arrivals = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(fake.next_conn().await);
        arrivals.push(start.elapsed());
    }
    assert!(arrivals[1] < Duration::from_millis(500), "{arrivals:?}");
    assert!(
        arrivals[2] >= window - Duration::from_millis(50),
        "the third waits for the window: {arrivals:?}"
    );
    for stream in &mut streams {
        assert_eq!(next_status(stream).await, StreamState::Connecting);
    }
}

/// More accounts than the connection budget lets open at once: those whose turn is a poll
/// interval or more away say `Queued` and poll REST until their turn, then go live on a socket.
#[tokio::test(start_paused = true)]
async fn an_account_queued_for_the_connection_budget_is_polled_until_its_turn() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let window = Duration::from_secs(10);
    let client = client_with_budget(&sim.url, &fake.url, 2, window);
    // The fake server sends no heartbeats: the live ones must not time out while time runs on.
    let options = StreamOptions {
        poll_interval: Duration::from_secs(1),
        heartbeat_interval: Duration::from_secs(3600),
        ..quick()
    };
    let start = Instant::now();
    // One key for the three: the test follows connections, not whose they are.
    let mut streams: Vec<AccountStream> = (0..3)
        .map(|_| client.clone().account_stream(creds("alice-key", "alice-secret"), options.clone()))
        .collect();
    // Two sockets at once (which stream's is which does not matter: each is answered).
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut conn = fake.next_conn().await;
        conn.accept_auth().await;
        open.push(conn);
    }
    for stream in &mut streams[..2] {
        assert_eq!(next_status(stream).await, StreamState::Connecting);
        assert_eq!(next_status(stream).await, StreamState::Live);
        assert_eq!(next_snapshot(stream).await.len(), 4);
    }
    let queued = &mut streams[2];
    assert_eq!(next_status(queued).await, StreamState::Connecting);
    let state = next_status(queued).await;
    let StreamState::Queued { opens_in } = state else { panic!("expected Queued, got {state:?}") };
    assert!(opens_in <= window && opens_in > window / 2, "{opens_in:?}");
    assert!(state.error().is_none(), "waiting for a turn is not a failure");
    // REST polls, every poll interval, with no status change, until the socket's turn.
    for _ in 0..3 {
        assert_eq!(next_snapshot(queued).await.len(), 4);
    }
    assert!(start.elapsed() < window, "{:?}", start.elapsed());
    let mut conn = fake.next_conn().await;
    assert!(start.elapsed() >= window, "the third socket opens at its turn: {:?}", start.elapsed());
    conn.accept_auth().await;
    loop {
        match next(queued).await {
            StreamEvent::Snapshot { .. } => continue, // the polls made until then
            StreamEvent::Status(StreamState::Live) => break,
            other => panic!("expected Live, got {other:?}"),
        }
    }
    assert_eq!(next_snapshot(queued).await.len(), 4, "the REST snapshot after connecting");
    for stream in streams {
        stream.close().await;
    }
}
