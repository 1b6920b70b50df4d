//! Portfolio snapshots: stored and read back exactly on both backends (see `common`), the
//! migration that adds them, and the schedule that writes them (paused time, no database).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bfx_store::periodic::{Every, MAX_EVERY, SnapshotCounts, write_every};
use bfx_store::{AccountSnapshot, Covered, Location, Store, StoreError, WalletSnapshot};
use common::{TestStore, dec, entry};

fn wallet(
    wallet: &str,
    currency: &str,
    balance: &str,
    price: Option<&str>,
    value: Option<&str>,
) -> WalletSnapshot {
    WalletSnapshot {
        wallet: wallet.into(),
        currency: currency.into(),
        balance: dec(balance),
        price: price.map(dec),
        value: value.map(dec),
    }
}

fn current(account: &str, mts: i64, total: &str, wallets: Vec<WalletSnapshot>) -> AccountSnapshot {
    AccountSnapshot {
        account: account.into(),
        mts,
        quote: "USD".into(),
        state: "live".into(),
        current: true,
        prices_current: true,
        data_age_ms: Some(1_500),
        total: Some(dec(total)),
        positions_pl: None,
        wallets,
    }
}

async fn snapshots_round_trip_exactly(t: TestStore) {
    let main = current(
        "main",
        1_000,
        "9999999999999999999999999999",
        vec![
            wallet(
                "exchange",
                "BTC",
                "1234567890.123456789012345678",
                Some("0.000000000000000001"),
                Some("1.50"),
            ),
            // Unpriced: kept as NULL, never 0.
            wallet("exchange", "XYZ", "10", None, None),
            wallet("funding", "USD", "-0.000000000000000001", Some("1"), Some("-0.000000000000000001")),
        ],
    );
    let mut stale =
        current("bot", 1_000, "0", vec![wallet("margin", "ETH", "2", Some("4000"), Some("8000"))]);
    stale.state = "reconnecting".into();
    stale.current = false;
    stale.total = None;
    stale.data_age_ms = Some(61_000);
    stale.positions_pl = Some(dec("-12.345"));
    let mut failed = current("cold", 1_000, "0", Vec::new());
    (failed.state, failed.current, failed.total, failed.data_age_ms) = ("failed".into(), false, None, None);

    assert_eq!(t.store.store_snapshot(&[main.clone(), stale.clone(), failed.clone()]).await.unwrap(), 3);
    let read = t.store.snapshots(&[], i64::MIN, i64::MAX).await.unwrap();
    // By account, then time.
    assert_eq!(read, [stale.clone(), failed.clone(), main.clone()]);
    // Exactly: the same digits, not merely an equal value.
    let m = &read[2];
    assert_eq!(m.total.unwrap().to_string(), "9999999999999999999999999999");
    assert_eq!(m.wallets[0].balance.to_string(), "1234567890.123456789012345678");
    assert_eq!(m.wallets[0].price.unwrap().to_string(), "0.000000000000000001");
    assert_eq!(m.wallets[0].value.unwrap().to_string(), "1.50");
    assert_eq!((m.wallets[1].price, m.wallets[1].value), (None, None));
    assert!(!m.is_complete() && m.unpriced() == 1);
    assert!(!read[0].current && read[0].total.is_none() && !read[0].is_complete());
    assert_eq!(read[0].state, "reconnecting");
    assert_eq!(read[0].positions_pl.unwrap().to_string(), "-12.345");

    // Snapshots are not ledger accounts: the ledger answers do not start listing them.
    assert_eq!(t.store.account_names().await.unwrap(), Vec::<String>::new());
}
both!(round_trip, snapshots_round_trip_exactly);

async fn idempotent_per_account_and_millisecond(t: TestStore) {
    let first = current("main", 5_000, "100", vec![wallet("exchange", "USD", "100", Some("1"), Some("100"))]);
    assert_eq!(t.store.store_snapshot(std::slice::from_ref(&first)).await.unwrap(), 1);
    // Again, and again with other content at the same millisecond: the stored one stays, whole.
    assert_eq!(t.store.store_snapshot(std::slice::from_ref(&first)).await.unwrap(), 0);
    let other = current("main", 5_000, "7", vec![wallet("exchange", "EUR", "7", Some("1"), Some("7"))]);
    let next = current("main", 6_000, "7", vec![wallet("exchange", "EUR", "7", Some("1"), Some("7"))]);
    assert_eq!(t.store.store_snapshot(&[other, next.clone()]).await.unwrap(), 1);
    assert_eq!(t.store.snapshots(&[], 0, 10_000).await.unwrap(), [first.clone(), next.clone()]);
    // A handle of another process sees the same.
    assert_eq!(t.reopen().await.snapshots(&["main".into()], 0, 10_000).await.unwrap().len(), 2);
}
both!(idempotent, idempotent_per_account_and_millisecond);

async fn read_by_accounts_and_range(t: TestStore) {
    let at = |account: &str, mts: i64| {
        current(account, mts, "1", vec![wallet("exchange", "USD", "1", Some("1"), Some("1"))])
    };
    for mts in [100, 200, 300] {
        t.store.store_snapshot(&[at("Bob", mts), at("alice", mts)]).await.unwrap();
    }
    let keys = |snapshots: Vec<AccountSnapshot>| {
        snapshots.into_iter().map(|s| (s.account, s.mts, s.wallets.len())).collect::<Vec<_>>()
    };
    let k = |account: &str, mts: i64| (account.to_owned(), mts, 1);
    // Byte order on both backends: "Bob" before "alice"; bounds inclusive.
    assert_eq!(
        keys(t.store.snapshots(&[], 200, 300).await.unwrap()),
        [k("Bob", 200), k("Bob", 300), k("alice", 200), k("alice", 300)]
    );
    assert_eq!(keys(t.store.snapshots(&["alice".into()], 0, 100).await.unwrap()), [k("alice", 100)]);
    assert_eq!(keys(t.store.snapshots(&["nobody".into()], i64::MIN, i64::MAX).await.unwrap()), []);
    assert_eq!(keys(t.store.snapshots(&[], 301, 400).await.unwrap()), []);
}
both!(by_accounts_and_range, read_by_accounts_and_range);

/// A store at schema version 1, as the bfx before snapshots made it, in another empty database
/// on the test's backend (the test's own is at the latest version), and what keeps it alive.
async fn v1_store(t: &TestStore) -> (Store, Option<bfx_store::test_support::TestDatabase>) {
    let (location, keep) = match &t.location {
        Location::Sqlite(path) => (Location::Sqlite(path.with_file_name("v1.sqlite")), None),
        Location::Postgres(_) => {
            let database = bfx_store::test_support::TestDatabase::create().await.unwrap();
            (database.location(), Some(database))
        }
    };
    (Store::open_as_schema_version(&location, 1).await.unwrap(), keep)
}

async fn a_v1_database_is_migrated(t: TestStore) {
    let (old, _keep) = v1_store(&t).await;
    let location = old.location().clone();
    let lock = old.lock_account("main").await.unwrap();
    old.store_page(
        &lock,
        &[entry(1, "exchange", "BTC", 10, "1.5", "1.5")],
        Covered { from_mts: 0, to_mts: 10 },
    )
    .await
    .unwrap();
    // Version 1 has no snapshot table.
    let err = old.store_snapshot(&[current("main", 1, "1", Vec::new())]).await.unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    drop(lock);
    old.close().await;

    let new = Store::open(&location).await.unwrap();
    assert_eq!(new.accounts().await.unwrap()[0].entries, 1, "the ledger is kept");
    assert_eq!(new.balances_at(&[], 10).await.unwrap()[0].balance.to_string(), "1.5");
    let snapshot = current("main", 20, "3", vec![wallet("exchange", "BTC", "1.5", Some("2"), Some("3"))]);
    assert_eq!(new.store_snapshot(std::slice::from_ref(&snapshot)).await.unwrap(), 1);
    assert_eq!(new.snapshots(&[], 0, 100).await.unwrap(), [snapshot]);
    new.close().await;
    // Opening again migrates nothing more.
    assert_eq!(Store::open(&location).await.unwrap().snapshots(&[], 0, 100).await.unwrap().len(), 1);
}
both!(v1_migrated, a_v1_database_is_migrated);

async fn a_bfx_knowing_only_v1_refuses_a_v2_database(t: TestStore) {
    // Version 3 (candles) came later; the database is at the newest.
    assert_eq!(Store::schema_version(), 3);
    let err = Store::open_as_schema_version(&t.location, 1).await.unwrap_err();
    match &err {
        StoreError::Migration { version, problem, .. } => {
            assert_eq!(*version, Store::schema_version());
            assert!(problem.contains("newer bfx") && problem.contains("knows up to 1"), "{problem}");
        }
        other => panic!("expected Migration, got {other:?}"),
    }
}
both!(v2_refused_by_v1, a_bfx_knowing_only_v1_refuses_a_v2_database);

// The schedule, with paused time and a recording writer (no database: a real one's I/O would let
// paused time jump past the write timeout).

type Log = Arc<Mutex<Vec<(Duration, i64)>>>;

/// Runs `write_every` every `every` for `run_for` of paused time; `outcome(n)` is the n-th
/// write's result and how long it takes. Returns the writes (when, mts) and the counts.
async fn schedule(
    every: Duration,
    ready_after: Duration,
    run_for: Duration,
    outcome: impl Fn(usize) -> (Duration, Result<u64, StoreError>),
) -> (Vec<(Duration, i64)>, (u64, u64)) {
    let start = tokio::time::Instant::now();
    let log: Log = Arc::default();
    let counts = SnapshotCounts::default();
    let every = Every::new(every, Duration::from_secs(1), MAX_EVERY).unwrap();
    let mut taken = 0;
    let take = || {
        taken += 1;
        vec![current("main", taken, "1", Vec::new())]
    };
    let mut writes = 0;
    let write = |snapshots: Vec<AccountSnapshot>| {
        let log = Arc::clone(&log);
        let (takes, result) = outcome(writes);
        writes += 1;
        async move {
            tokio::time::sleep(takes).await;
            log.lock().unwrap().push((start.elapsed(), snapshots[0].mts));
            result
        }
    };
    let ready = tokio::time::sleep(ready_after);
    let shutdown = tokio::time::sleep(run_for);
    write_every(every, ready, take, write, &counts, shutdown).await;
    let log = log.lock().unwrap().clone();
    (log, counts.get())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test(start_paused = true)]
async fn the_first_snapshot_comes_when_ready_then_one_every_interval() {
    let (log, counts) = schedule(secs(60), secs(7), secs(7 + 60 * 3 + 1), |_| (Duration::ZERO, Ok(1))).await;
    assert_eq!(log, [(secs(7), 1), (secs(67), 2), (secs(127), 3), (secs(187), 4)]);
    assert_eq!(counts, (4, 0));
}

#[tokio::test(start_paused = true)]
async fn nothing_is_written_before_ready() {
    let (log, counts) = schedule(secs(60), secs(1_000), secs(999), |_| (Duration::ZERO, Ok(1))).await;
    assert_eq!((log, counts), (Vec::new(), (0, 0)));
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_counted_and_the_schedule_goes_on() {
    let closed = |n| match n {
        1 => (Duration::ZERO, Err(StoreError::NoDataDir)),
        _ => (Duration::ZERO, Ok(1)),
    };
    let (log, counts) = schedule(secs(60), Duration::ZERO, secs(60 * 2 + 1), closed).await;
    assert_eq!(log.iter().map(|(at, _)| *at).collect::<Vec<_>>(), [secs(0), secs(60), secs(120)]);
    assert_eq!(counts, (2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_write_that_hangs_is_cut_off_counted_and_the_schedule_goes_on() {
    // The second write would take 10 minutes: it is abandoned after WRITE_TIMEOUT (30 s), and the
    // next tick comes on time.
    let hang = |n| match n {
        1 => (secs(600), Ok(1)),
        _ => (secs(5), Ok(1)),
    };
    let (log, counts) = schedule(secs(60), Duration::ZERO, secs(250), hang).await;
    // Write 0 at 0 (done at 5); write 1 at 60, cut off at 90 (never logged); then at 120
    // (done at 125), 180 and 240.
    assert_eq!(
        log.iter().map(|(at, mts)| (*at, *mts)).collect::<Vec<_>>(),
        [(secs(5), 1), (secs(125), 3), (secs(185), 4), (secs(245), 5)]
    );
    assert_eq!(counts, (4, 1));
}

#[tokio::test]
async fn a_closed_store_fails_the_write_with_a_store_error() {
    // What `bfx serve` passes as the writer, on a store that can no longer write.
    let dir = tempfile::TempDir::new().unwrap();
    let store = Store::open(&Location::Sqlite(dir.path().join("h.sqlite"))).await.unwrap();
    store.close().await;
    let err = store.store_snapshot(&[current("main", 1, "1", Vec::new())]).await.unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
}
