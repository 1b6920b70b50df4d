//! Client-side rate limits against the emulator's own: many accounts through one client share
//! the endpoint's budget and never meet a 429; a 429 blocks the endpoint, then is waited out (or,
//! in no-wait mode, fails fast without sending more).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bfx_client::{Client, Endpoints, Error, ErrorKind, RateLimits, WaitEvent, WaitReason};
use common::{STATE, accounts_state, add_fault, counters, creds, sim_with};
use tokio::time::Instant;

const ACCOUNTS: usize = 8;
const BUDGET: u32 = 3;
const WINDOW: Duration = Duration::from_secs(1);

type Events = Arc<Mutex<Vec<WaitEvent>>>;

fn client(url: &str, wait: bool, limits: RateLimits) -> (Client, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let client = Client::builder()
        .endpoints(Endpoints::single(url).unwrap())
        .in_memory_nonces()
        .rate_limits(limits)
        .wait_on_rate_limit(wait)
        .on_wait(Arc::new(move |event| sink.lock().unwrap().push(event)))
        .build()
        .unwrap();
    (client, events)
}

/// Paused Tokio time, as every test here that waits out a window or a block: client, limiter and
/// emulator share this runtime's clock, so the windows pass without real waiting and a slow
/// machine cannot stretch them.
#[tokio::test(start_paused = true)]
async fn eight_accounts_share_one_budget_without_a_429() {
    let limits = "[limits]\nwindow_secs = 1\nblock_secs = 2\nper_minute = { \"auth/r/wallets\" = 3 }";
    let sim = sim_with(&accounts_state(limits, ACCOUNTS)).await;
    let budget =
        RateLimits { window: WINDOW, per_endpoint: BTreeMap::from([("auth/r/wallets".into(), BUDGET)]) };
    // No-wait mode: a 429 would surface as Error::RateLimited instead of being waited out.
    let (client, events) = client(&sim.url, false, budget);
    let started = Instant::now();
    let calls: Vec<_> = (0..ACCOUNTS)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client.wallets(&creds(&format!("acct{i}-key"), &format!("acct{i}-secret"))).await
            })
        })
        .collect();
    let mut rate_limited = 0;
    for (i, call) in calls.into_iter().enumerate() {
        match call.await.unwrap() {
            Ok(rows) => assert_eq!(rows[0].balance.to_string(), i.to_string()),
            Err(e) if e.kind() == ErrorKind::RateLimited => rate_limited += 1,
            Err(e) => panic!("account {i}: {e}"),
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(rate_limited, 0);
    // 8 requests at 3 per window need 3 windows: at least 2 window lengths between first and last.
    let windows = (ACCOUNTS as u32).div_ceil(BUDGET) - 1;
    assert!(elapsed >= WINDOW * windows, "{elapsed:?}");
    assert!(elapsed < WINDOW * (windows + 3), "{elapsed:?}");
    let counters = counters(&sim.url).await;
    assert_eq!(counters["requests"]["auth/r/wallets"], ACCOUNTS);
    assert_eq!(counters["rejections"]["rate_limited"], 0);
    assert!(events.lock().unwrap().iter().all(|e| e.reason == WaitReason::Budget), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn a_429_blocks_the_endpoint_then_the_request_succeeds() {
    let sim = sim_with(STATE).await;
    add_fault(&sim.url, r#"{"endpoint":"auth/r/wallets","kind":"rate_limit","retry_after_secs":1}"#).await;
    let (client, events) = client(&sim.url, true, RateLimits::bitfinex());
    let started = Instant::now();
    let rows = client.wallets(&creds("alice-key", "alice-secret")).await.unwrap();
    assert_eq!(rows.len(), 4);
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].endpoint, events[0].reason), ("auth/r/wallets", WaitReason::RateLimited));
    assert!(events[0].wait > Duration::from_millis(500) && events[0].wait <= Duration::from_secs(1));
    assert_eq!(counters(&sim.url).await["requests"]["auth/r/wallets"], 2);
}

#[tokio::test(start_paused = true)]
async fn without_waiting_a_429_fails_fast_and_blocks_further_sends() {
    let sim = sim_with(STATE).await;
    add_fault(&sim.url, r#"{"endpoint":"auth/r/wallets","kind":"rate_limit","retry_after_secs":1}"#).await;
    let (client, events) = client(&sim.url, false, RateLimits::bitfinex());
    let alice = creds("alice-key", "alice-secret");
    let err = client.wallets(&alice).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { status: 429, retry_after: Some(d), .. } if d == Duration::from_secs(1)),
        "{err:?}"
    );
    // Still blocked: refused without sending (the emulator saw one request).
    let err = client.wallets(&alice).await.unwrap_err();
    assert!(
        matches!(&err, Error::RateLimited { retry_after: Some(d), .. } if *d <= Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(counters(&sim.url).await["requests"]["auth/r/wallets"], 1);
    // Other endpoints are not blocked.
    let permissions = client.permissions(&alice).await.unwrap();
    assert!(permissions.iter().any(|p| p.scope == "wallets" && p.read));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(client.wallets(&alice).await.unwrap().len(), 4);
    assert!(events.lock().unwrap().is_empty());
}

/// A `Retry-After` of u64::MAX seconds once panicked the limiter ("overflow when adding duration
/// to instant"). It is clamped to the longest documented block, not waited out, and said so.
#[tokio::test]
async fn an_absurd_retry_after_is_clamped_and_named() {
    let sim = sim_with(STATE).await;
    add_fault(
        &sim.url,
        r#"{"endpoint":"auth/r/wallets","kind":"rate_limit","retry_after_secs":18446744073709551615}"#,
    )
    .await;
    let (client, _events) = client(&sim.url, true, RateLimits::bitfinex());
    let alice = creds("alice-key", "alice-secret");
    let err = client.wallets(&alice).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RateLimited { retry_after: Some(d), retry_after_sent: Some(u64::MAX), .. }
                if d == Duration::from_secs(120)
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("Retry-After 18446744073709551615 s") && text.contains("taken as 120 s"), "{text}");
    assert_eq!(counters(&sim.url).await["requests"]["auth/r/wallets"], 1);
}
