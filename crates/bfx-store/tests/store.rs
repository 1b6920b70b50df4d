//! The store's behaviour, each test on SQLite and on PostgreSQL (see `common`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use bfx_core::ledger::{Category, LedgerEntry};
use bfx_store::{Covered, EntryQuery, Order, StoreError, StoredEntry};
use common::{TestStore, dec, entry};
use futures_util::TryStreamExt;

fn covered(from_mts: i64, to_mts: i64) -> Covered {
    Covered { from_mts, to_mts }
}

async fn all_entries(t: &TestStore, query: EntryQuery) -> Vec<StoredEntry> {
    t.store.entries(query).try_collect().await.unwrap()
}

async fn amounts_round_trip_exactly(t: TestStore) {
    let lock = t.store.lock_account("main").await.unwrap();
    let mut big =
        entry(1, "exchange", "BTC", 1_000, "1234567890.123456789012345678", "-0.000000000000000001");
    big.description = "Something new on wallet exchange".into();
    let small = entry(2, "exchange", "BTC", 2_000, "-0.000000000000000001", "9999999999999999999999999999");
    let trailing = entry(3, "funding", "USD", 3_000, "1.50", "0");
    assert_eq!(
        t.store
            .store_page(&lock, &[big.clone(), small.clone(), trailing.clone()], covered(0, 3_000))
            .await
            .unwrap(),
        3
    );

    let stored = all_entries(&t, EntryQuery::default()).await;
    let got: Vec<&LedgerEntry> = stored.iter().map(|s| &s.entry).collect();
    assert_eq!(got, [&big, &small, &trailing]);
    // Exactly: the same digits, not merely an equal value.
    assert_eq!(stored[0].entry.amount.to_string(), "1234567890.123456789012345678");
    assert_eq!(stored[0].entry.balance.to_string(), "-0.000000000000000001");
    assert_eq!(stored[1].entry.balance.to_string(), "9999999999999999999999999999");
    assert_eq!(stored[2].entry.amount.to_string(), "1.50");
    assert_eq!(stored[0].category, None);
    assert_eq!(stored[1].category, Some(Category(101)));

    let balances = t.store.balances_at(&[], 1_500).await.unwrap();
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].balance.to_string(), "-0.000000000000000001");
}
both!(amounts_round_trip, amounts_round_trip_exactly);

async fn duplicates_skipped_conflicts_refused(t: TestStore) {
    let lock = t.store.lock_account("main").await.unwrap();
    let e = |id: i64, amount: &str| entry(id, "exchange", "BTC", id * 10, amount, "1");
    assert_eq!(
        t.store.store_page(&lock, &[e(1, "1"), e(2, "2"), e(3, "3")], covered(10, 30)).await.unwrap(),
        3
    );
    // Overlapping page: only id 4 is new.
    assert_eq!(
        t.store.store_page(&lock, &[e(2, "2"), e(3, "3"), e(4, "4")], covered(20, 40)).await.unwrap(),
        1
    );
    // The same value written differently is the same entry.
    assert_eq!(t.store.store_page(&lock, &[e(4, "4.000")], covered(40, 40)).await.unwrap(), 0);

    // Id 3 again with another amount: refused, and id 5 and the coverage of the page not stored.
    let err = t.store.store_page(&lock, &[e(5, "5"), e(3, "3.1")], covered(41, 99)).await.unwrap_err();
    match &err {
        StoreError::Conflict { account, id, .. } => assert_eq!((account.as_str(), *id), ("main", 3)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(err.to_string().contains("3.1"), "{err}");
    // Within one page too.
    let err = t.store.store_page(&lock, &[e(6, "6"), e(6, "-6")], covered(60, 60)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { id: 6, .. }), "{err:?}");

    let ids: Vec<i64> = all_entries(&t, EntryQuery::default()).await.iter().map(|s| s.entry.id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(t.store.coverage("main").await.unwrap(), [covered(10, 40)]);
}
both!(duplicates_and_conflicts, duplicates_skipped_conflicts_refused);

async fn coverage_merges(t: TestStore) {
    let lock = t.store.lock_account("main").await.unwrap();
    let other = t.store.lock_account("other").await.unwrap();
    for (from, to) in [(30, 40), (10, 20), (50, 60)] {
        t.store.store_page(&lock, &[], covered(from, to)).await.unwrap();
    }
    t.store.store_page(&other, &[], covered(0, 100)).await.unwrap();
    assert_eq!(t.store.coverage("main").await.unwrap(), [covered(10, 20), covered(30, 40), covered(50, 60)]);
    // Touching (21..=29 closes the hole exactly) and overlapping merge.
    t.store.store_page(&lock, &[], covered(21, 29)).await.unwrap();
    assert_eq!(t.store.coverage("main").await.unwrap(), [covered(10, 40), covered(50, 60)]);
    t.store.store_page(&lock, &[], covered(5, 12)).await.unwrap();
    t.store.store_page(&lock, &[], covered(55, 70)).await.unwrap();
    assert_eq!(t.store.coverage("main").await.unwrap(), [covered(5, 40), covered(50, 70)]);
    t.store.store_page(&lock, &[], covered(0, 100)).await.unwrap();
    assert_eq!(t.store.coverage("main").await.unwrap(), [covered(0, 100)]);
    // Extremes do not overflow.
    t.store.store_page(&lock, &[], covered(i64::MIN, -1)).await.unwrap();
    t.store.store_page(&lock, &[], covered(101, i64::MAX)).await.unwrap();
    assert_eq!(t.store.coverage("main").await.unwrap(), [covered(i64::MIN, i64::MAX)]);
    assert_eq!(t.store.coverage("other").await.unwrap(), [covered(0, 100)]);
    assert_eq!(t.store.coverage("nobody").await.unwrap(), []);
    let err = t.store.store_page(&lock, &[], covered(5, 4)).await.unwrap_err();
    assert!(matches!(err, StoreError::EmptyInterval { from_mts: 5, to_mts: 4 }), "{err:?}");
}
both!(coverage, coverage_merges);

async fn gaps_and_accounts(t: TestStore) {
    let main = t.store.lock_account("main").await.unwrap();
    let gappy = t.store.lock_account("gappy").await.unwrap();
    t.store
        .store_page(
            &main,
            &[entry(7, "exchange", "BTC", 700, "1", "1"), entry(9, "margin", "USD", 900, "2", "2")],
            covered(0, 1_000),
        )
        .await
        .unwrap();
    t.store.record_gap(&gappy, 500, "page full of one millisecond").await.unwrap();
    t.store.record_gap(&gappy, 400, "first").await.unwrap();
    t.store.record_gap(&gappy, 400, "second").await.unwrap();
    t.store.record_gap(&main, 800, "x").await.unwrap();

    let gaps = t.store.gaps(Some("gappy")).await.unwrap();
    let gaps: Vec<(&str, i64, &str)> =
        gaps.iter().map(|g| (g.account.as_str(), g.mts, g.reason.as_str())).collect();
    assert_eq!(gaps, [("gappy", 400, "second"), ("gappy", 500, "page full of one millisecond")]);
    assert_eq!(t.store.gaps(None).await.unwrap().len(), 3);
    assert_eq!(t.store.gaps(Some("nobody")).await.unwrap(), []);

    let accounts = t.store.accounts().await.unwrap();
    let accounts: Vec<_> =
        accounts.iter().map(|a| (a.account.as_str(), a.entries, a.oldest_mts, a.newest_mts)).collect();
    assert_eq!(accounts, [("gappy", 0, None, None), ("main", 2, Some(700), Some(900))]);
}
both!(gaps_accounts, gaps_and_accounts);

async fn balances_at_a_time(t: TestStore) {
    let alice = t.store.lock_account("alice").await.unwrap();
    let bob = t.store.lock_account("Bob").await.unwrap();
    let page = [
        entry(1, "exchange", "BTC", 100, "1", "1"),
        entry(2, "exchange", "BTC", 200, "0.5", "1.5"),
        // Same millisecond: the greater id is the later one.
        entry(4, "exchange", "BTC", 300, "-1.5", "0"),
        entry(3, "exchange", "BTC", 300, "1", "1.5"),
        entry(5, "exchange", "USD", 150, "100", "100"),
        entry(6, "funding", "USD", 250, "50", "50"),
    ];
    t.store.store_page(&alice, &page, covered(0, 300)).await.unwrap();
    t.store.store_page(&bob, &[entry(1, "margin", "ETH", 120, "3", "3")], covered(0, 300)).await.unwrap();

    let at = |mts: i64, accounts: &'static [&'static str]| {
        let store = t.store.clone();
        async move {
            let accounts: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
            store
                .balances_at(&accounts, mts)
                .await
                .unwrap()
                .into_iter()
                .map(|b| (b.account, b.wallet, b.currency, b.balance.to_string(), b.mts, b.id))
                .collect::<Vec<_>>()
        }
    };
    let row = |a: &str, w: &str, c: &str, b: &str, mts: i64, id: i64| {
        (a.to_owned(), w.to_owned(), c.to_owned(), b.to_owned(), mts, id)
    };
    assert_eq!(at(99, &[]).await, []);
    // Byte order: "Bob" before "alice", on both backends.
    assert_eq!(
        at(200, &[]).await,
        [
            row("Bob", "margin", "ETH", "3", 120, 1),
            row("alice", "exchange", "BTC", "1.5", 200, 2),
            row("alice", "exchange", "USD", "100", 150, 5),
        ]
    );
    assert_eq!(
        at(300, &["alice"]).await,
        [
            row("alice", "exchange", "BTC", "0", 300, 4),
            row("alice", "exchange", "USD", "100", 150, 5),
            row("alice", "funding", "USD", "50", 250, 6),
        ]
    );
    assert_eq!(at(i64::MAX, &["Bob", "nobody"]).await, [row("Bob", "margin", "ETH", "3", 120, 1)]);

    // Deleting the latest entry makes the one before it the answer.
    assert!(t.store.delete_entry("alice", 4).await.unwrap());
    assert!(!t.store.delete_entry("alice", 4).await.unwrap());
    assert_eq!(at(300, &["alice"]).await[0], row("alice", "exchange", "BTC", "1.5", 300, 3));
}
both!(balances_at, balances_at_a_time);

async fn entries_in_order(t: TestStore) {
    let main = t.store.lock_account("main").await.unwrap();
    let other = t.store.lock_account("other").await.unwrap();
    let mut fee = entry(10, "exchange", "USD", 150, "-0.1", "99.9");
    fee.description = "Trading fees for 0.1 BTC (BTCUSD) @ 100 on BFX (0.2%) on wallet exchange".into();
    let page = [
        entry(12, "exchange", "USD", 100, "100", "100"),
        entry(11, "exchange", "BTC", 100, "1", "1"),
        fee,
        entry(13, "exchange", "BTC", 200, "1", "2"),
    ];
    t.store.store_page(&main, &page, covered(0, 200)).await.unwrap();
    t.store.store_page(&other, &[entry(1, "exchange", "BTC", 50, "1", "1")], covered(0, 200)).await.unwrap();

    let ids = |entries: Vec<StoredEntry>| {
        entries.iter().map(|e| (e.account.clone(), e.entry.id)).collect::<Vec<_>>()
    };
    let q = |accounts: &[&str], from_mts, to_mts, order| EntryQuery {
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        from_mts,
        to_mts,
        order,
    };
    let m = |id| ("main".to_owned(), id);
    assert_eq!(
        ids(all_entries(&t, q(&[], None, None, Order::Time)).await),
        [m(11), m(12), m(10), m(13), ("other".into(), 1)]
    );
    assert_eq!(
        ids(all_entries(&t, q(&["main"], None, None, Order::Chain)).await),
        [m(11), m(13), m(12), m(10)]
    );
    assert_eq!(ids(all_entries(&t, q(&["main"], Some(150), Some(200), Order::Time)).await), [m(10), m(13)]);
    assert_eq!(
        ids(all_entries(&t, q(&["main", "other"], Some(100), Some(100), Order::Time)).await),
        [m(11), m(12)]
    );
    assert_eq!(ids(all_entries(&t, q(&["nobody"], None, None, Order::Time)).await), []);

    let stored = all_entries(&t, q(&["main"], Some(150), Some(150), Order::Time)).await;
    assert_eq!(stored[0].category, Some(Category(201)));
    assert_eq!(stored[0].entry, page[2]);

    // A stream dropped half-way stops; the store stays usable.
    let mut stream = t.store.entries(EntryQuery::default());
    assert!(stream.try_next().await.unwrap().is_some());
    drop(stream);
    assert_eq!(t.store.accounts().await.unwrap().len(), 2);
}
both!(entries, entries_in_order);

async fn many_entries_stream(t: TestStore) {
    let lock = t.store.lock_account("main").await.unwrap();
    let page: Vec<LedgerEntry> = (0..6_000)
        .map(|i| {
            entry(
                i,
                if i % 2 == 0 { "exchange" } else { "margin" },
                "BTC",
                1_000 + i / 3,
                "1",
                &i.to_string(),
            )
        })
        .collect();
    for chunk in page.chunks(2_500) {
        let (first, last) = (chunk[0].mts, chunk[chunk.len() - 1].mts);
        assert_eq!(t.store.store_page(&lock, chunk, covered(first, last)).await.unwrap(), chunk.len() as u64);
    }
    assert_eq!(t.store.coverage("main").await.unwrap(), [covered(1_000, 1_000 + 5_999 / 3)]);
    let mut count = 0;
    let mut last = (i64::MIN, i64::MIN);
    let mut stream = t.store.entries(EntryQuery::default());
    while let Some(e) = stream.try_next().await.unwrap() {
        assert!((e.entry.mts, e.entry.id) > last);
        last = (e.entry.mts, e.entry.id);
        count += 1;
    }
    assert_eq!(count, 6_000);
    let summary = &t.store.accounts().await.unwrap()[0];
    assert_eq!((summary.entries, summary.oldest_mts, summary.newest_mts), (6_000, Some(1_000), Some(2_999)));
}
both!(many_entries, many_entries_stream);

async fn concurrent_overlapping_pages(t: TestStore) {
    let other = t.reopen().await;
    let lock = t.store.lock_account("main").await.unwrap();
    let all: Vec<LedgerEntry> =
        (0..3_000).map(|i| entry(i, "exchange", "BTC", i, "1", &(i + 1).to_string())).collect();
    for round in 0..3 {
        // Two writers (two pools, as two processes) with overlapping pages at the same time.
        let (a, b) = (&all[..2_000], &all[1_000..]);
        let (ra, rb) = tokio::join!(
            t.store.store_page(&lock, a, covered(0, 1_999)),
            other.store_page(&lock, b, covered(1_000, 2_999))
        );
        let inserted = ra.unwrap() + rb.unwrap();
        assert_eq!(inserted, if round == 0 { 3_000 } else { 0 }, "round {round}");
        let stored = all_entries(&t, EntryQuery::default()).await;
        assert_eq!(stored.len(), 3_000);
        assert!(stored.iter().zip(&all).all(|(s, e)| s.entry == *e));
        assert_eq!(t.store.coverage("main").await.unwrap(), [covered(0, 2_999)]);
        // A fresh account each further round would hide nothing: delete a stretch and go again.
        for id in 500..2_500 {
            if round < 2 && id % 7 == 0 {
                t.store.delete_entry("main", id).await.unwrap();
            }
        }
        if round < 2 {
            let (ra, rb) = tokio::join!(
                t.store.store_page(&lock, a, covered(0, 1_999)),
                other.store_page(&lock, b, covered(1_000, 2_999))
            );
            let expected = (500..2_500).filter(|id| id % 7 == 0).count() as u64;
            assert_eq!(ra.unwrap() + rb.unwrap(), expected, "round {round}");
        }
    }
}
both!(concurrent_pages, concurrent_overlapping_pages);

async fn the_account_lock_excludes(t: TestStore) {
    let wait = std::time::Duration::from_millis(300);
    let first = t.reopen().await.with_lock_wait(wait);
    let second = t.reopen().await.with_lock_wait(wait);
    let held = first.lock_account("main").await.unwrap();
    assert_eq!(held.account(), "main");

    let started = std::time::Instant::now();
    let err = second.lock_account("main").await.unwrap_err();
    let waited = started.elapsed();
    match &err {
        StoreError::Locked { account, holder, .. } => {
            assert_eq!(account, "main");
            let holder = holder.as_deref().unwrap_or_default();
            assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder:?}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(waited >= wait && waited < wait * 20, "waited {waited:?}");
    // The same handle is excluded too, and other accounts are not.
    assert!(matches!(first.lock_account("main").await, Err(StoreError::Locked { .. })));
    let other = second.lock_account("other").await.unwrap();

    held.release().await.unwrap();
    let again = second.lock_account("main").await.unwrap();
    // Dropping a guard releases it as well (a longer bound: a PostgreSQL session ends
    // asynchronously after its socket closes).
    drop(again);
    let patient = t.reopen().await.with_lock_wait(std::time::Duration::from_secs(10));
    let _third = patient.lock_account("main").await.unwrap();
    drop(other);
    let _fourth = patient.lock_account("other").await.unwrap();
}
both!(account_lock, the_account_lock_excludes);

async fn reopening_keeps_everything(t: TestStore) {
    let lock = t.store.lock_account("main").await.unwrap();
    t.store.store_page(&lock, &[entry(1, "exchange", "BTC", 1, "1", "1")], covered(0, 1)).await.unwrap();
    drop(lock);
    t.store.close().await;
    let again = t.reopen().await;
    assert_eq!(again.accounts().await.unwrap()[0].entries, 1);
    assert_eq!(again.coverage("main").await.unwrap(), [covered(0, 1)]);
    let shown = again.backend().to_string();
    if t.is_sqlite() {
        assert!(shown.starts_with("SQLite /") && shown.ends_with("history.sqlite"), "{shown}");
    } else {
        assert!(
            shown.starts_with("PostgreSQL postgres@127.0.0.1:") || shown.starts_with("PostgreSQL "),
            "{shown}"
        );
        assert!(shown.contains("/bfx_test_"), "{shown}");
    }
}
both!(reopen, reopening_keeps_everything);

async fn corrupt_amounts_are_named(t: TestStore) {
    let lock = t.store.lock_account("main").await.unwrap();
    t.store.store_page(&lock, &[entry(42, "exchange", "BTC", 1, "1", "1")], covered(0, 1)).await.unwrap();
    let sql = if t.is_sqlite() {
        "UPDATE ledger SET balance = 'one' WHERE id = 42"
    } else {
        "UPDATE ledger SET balance = 'NaN' WHERE id = 42"
    };
    let pool = t.raw_pool().await;
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
    let err = t.store.balances_at(&[], 10).await.unwrap_err();
    match &err {
        StoreError::Corrupt { account, id, column, .. } => {
            assert_eq!((account.as_str(), *id, *column), ("main", 42, "balance"))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let err = t.store.entries(EntryQuery::default()).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { id: 42, .. }), "{err:?}");
    assert!(dec("1").is_sign_positive());
}
both!(corrupt, corrupt_amounts_are_named);

async fn a_newer_schema_is_refused(t: TestStore) {
    let pool = t.raw_pool().await;
    sqlx::query("INSERT INTO schema_migration (version, description) VALUES (99, 'from the future')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = bfx_store::Store::open(&t.location).await.unwrap_err();
    match &err {
        StoreError::Migration { version, problem, .. } => {
            assert_eq!(*version, 99);
            assert!(problem.contains("newer bfx"), "{problem}");
        }
        other => panic!("expected Migration, got {other:?}"),
    }
}
both!(newer_schema, a_newer_schema_is_refused);

/// The SQLite file and its directories are the user's alone, and the database is in WAL mode.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestStore::sqlite().await;
    let bfx_store::Location::Sqlite(path) = &t.location else { unreachable!() };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let lock = t.store.lock_account("main").await.unwrap();
    t.store.store_page(&lock, &[entry(1, "exchange", "BTC", 1, "1", "1")], covered(0, 1)).await.unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert_eq!(mode(std::path::Path::new(&wal)), 0o600);
    let mut locks = path.as_os_str().to_owned();
    locks.push("-locks");
    assert_eq!(mode(std::path::Path::new(&locks)), 0o700);
    let pool = t.raw_pool().await;
    let journal: (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
    assert_eq!(journal.0, "wal");
}

/// The pool and the bulk reads (their own SQLite connections) open one file whatever the path
/// holds: a `%41` in a directory name is not `A` (sqlx decodes `%XX` in its URL), and a `..`
/// after a link is where the kernel takes it, not the segment folded away.
#[tokio::test]
async fn every_reader_opens_the_one_file_the_path_names() {
    let dir = tempfile::tempdir().unwrap();
    let ids_in = |path: std::path::PathBuf| async move {
        let store = bfx_store::Store::open(&bfx_store::Location::Sqlite(path)).await.unwrap();
        let balances = store.balances_at(&[], i64::MAX).await.unwrap();
        let entries: Vec<StoredEntry> = store.entries(EntryQuery::default()).try_collect().await.unwrap();
        store.close().await;
        (
            balances.iter().map(|b| b.currency.clone()).collect::<Vec<_>>(),
            entries.iter().map(|s| s.entry.id).collect::<Vec<_>>(),
        )
    };
    let store_one = |path: std::path::PathBuf, id: i64, currency: &'static str| async move {
        let store = bfx_store::Store::open(&bfx_store::Location::Sqlite(path)).await.unwrap();
        let lock = store.lock_account("main").await.unwrap();
        store
            .store_page(&lock, &[entry(id, "exchange", currency, 1, "1", "1")], covered(0, 1))
            .await
            .unwrap();
        drop(lock);
        store.close().await;
    };
    store_one(dir.path().join("pctA/history.sqlite"), 1, "AAA").await;
    store_one(dir.path().join("pct%41/history.sqlite"), 2, "PCT").await;
    assert_eq!(ids_in(dir.path().join("pct%41/history.sqlite")).await, (vec!["PCT".to_owned()], vec![2]));
    assert_eq!(ids_in(dir.path().join("pctA/history.sqlite")).await, (vec!["AAA".to_owned()], vec![1]));

    std::fs::create_dir_all(dir.path().join("real/sub")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real/sub"), dir.path().join("link")).unwrap();
    store_one(dir.path().join("link/../store/history.sqlite"), 3, "LNK").await;
    assert_eq!(ids_in(dir.path().join("real/store/history.sqlite")).await, (vec!["LNK".to_owned()], vec![3]));
}

/// A column holding something else than the text bfx wrote (a blob, text that is not UTF-8) is
/// an error naming the column, after the entries before it.
#[tokio::test]
async fn a_column_that_is_not_text_is_named() {
    let t = TestStore::sqlite().await;
    let lock = t.store.lock_account("main").await.unwrap();
    let entries = [entry(1, "exchange", "BTC", 1, "1", "1"), entry(2, "exchange", "BTC", 2, "1", "2")];
    t.store.store_page(&lock, &entries, covered(0, 2)).await.unwrap();
    let pool = t.raw_pool().await;
    for (value, kind) in [("X'FF'", "Blob"), ("CAST(X'FF' AS TEXT)", "utf-8")] {
        sqlx::query(&format!("UPDATE ledger SET wallet = {value} WHERE id = 2"))
            .execute(&pool)
            .await
            .unwrap();
        let mut read = t.store.entries(EntryQuery::default());
        assert_eq!(read.try_next().await.unwrap().map(|s| s.entry.id), Some(1));
        let error = read.try_next().await.unwrap_err().to_string();
        assert!(error.contains("reading ledger entries") && error.contains(kind), "{error}");
        assert!(error.contains("wallet"), "{error}");
    }
    pool.close().await;
}
