//! `sync_account` from the in-process emulator into a real store, on SQLite and on PostgreSQL:
//! full and incremental syncs, interrupted syncs (a failed request, a dropped future) resumed to
//! the same store as an uninterrupted one, two syncs of one account at once, more entries on one
//! millisecond than a page holds, and what the store then answers.
//!
//! Budgets are lifted on both sides (the emulator's state file, the client's limits), so no test
//! waits for a window: what is tested is what is stored, not how long it took.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::sync::Arc;

use bfx_client::{Account, Client, Credentials, Endpoints, RateLimits, RetryPolicy};
use bfx_store::history::{check_chain, check_wallets};
use bfx_store::{EntryQuery, Order, Progress, Store, StoredEntry, sync_account};
use common::{TestStore, dec, sim_with};
use futures_util::TryStreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};

const STATE: &str = r#"
[limits]
per_minute = { "auth/r/ledgers/hist" = 1000000, "auth/r/wallets" = 1000000 }

[[account]]
name = "alice"
user_id = 1
email = "alice@example.com"
  [[account.key]]
  key = "alice-key"
  secret = "alice-secret"
  permissions = { wallets = "r", history = "r" }
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "0"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "funding"
  currency = "BTC"
  balance = "0"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "exchange"
  currency = "ETH"
  balance = "0"
  unsettled_interest = "0"
"#;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

async fn admin(url: &str, path: &str, body: Value) -> Value {
    let response =
        reqwest::Client::new().post(format!("{url}{path}")).body(body.to_string()).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn ledger_requests(url: &str) -> u64 {
    let body = reqwest::Client::new().get(format!("{url}/sim/counters")).send().await.unwrap();
    let counters: Value = serde_json::from_slice(&body.bytes().await.unwrap()).unwrap();
    counters["requests"]["auth/r/ledgers/hist"].as_u64().unwrap()
}

/// `count` entries of one wallet, spread from `from` to `to`, `same` per millisecond.
async fn bulk(url: &str, currency: &str, wallet: &str, count: u64, (from, to): (i64, i64), same: u64) {
    let body = json!({"account": "alice", "currency": currency, "wallet": wallet, "count": count,
                      "from_mts": from, "to_mts": to, "same_mts": same});
    admin(url, "/sim/ledger", body).await;
}

/// A year of entries in three wallets: 6 000 in all, several pages.
async fn a_year(url: &str) {
    bulk(url, "BTC", "exchange", 3_000, (T0, T0 + 365 * DAY), 1).await;
    bulk(url, "BTC", "funding", 2_000, (T0 + DAY, T0 + 300 * DAY), 1).await;
    bulk(url, "ETH", "exchange", 1_000, (T0 + 2 * DAY, T0 + 200 * DAY), 2).await;
}

fn client(url: &str, attempts: u32) -> Client {
    Client::builder()
        .endpoints(Endpoints::single(url).unwrap())
        .in_memory_nonces()
        .rate_limits(RateLimits::bitfinex().with_limit("auth/r/ledgers/hist", 1_000_000))
        .retry_policy(RetryPolicy { max_attempts: attempts, ..RetryPolicy::default() })
        .build()
        .unwrap()
}

fn alice() -> Account {
    Account {
        name: "alice".into(),
        credentials: Credentials::new("alice-key", SecretString::from("alice-secret")),
    }
}

/// Later than anything the tests write.
const NOW: i64 = T0 + 400 * DAY;

async fn stored(store: &Store) -> Vec<StoredEntry> {
    store.entries(EntryQuery::default()).try_collect().await.unwrap()
}

/// The store agrees with the emulator: every chain holds and ends at the wallet's balance now.
async fn agrees_with_the_wallets(store: &Store, client: &Client) {
    let chain: Vec<StoredEntry> = store
        .entries(EntryQuery { order: Order::Chain, ..EntryQuery::default() })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(check_chain(chain), []);
    let now: Vec<_> = client
        .wallets(&alice().credentials)
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.wallet_type.as_str().to_owned(), w.currency, w.balance))
        .collect();
    let balances = store.balances_at(&[], i64::MAX).await.unwrap();
    assert_eq!(check_wallets("alice", &balances, &now), []);
}

async fn full_then_incremental(t: TestStore) {
    let sim = sim_with(STATE).await;
    a_year(&sim.url).await;
    let client = client(&sim.url, 4);
    let synced = sync_account(&client, &t.store, &alice(), None, NOW, |_| {}).await.unwrap();
    assert_eq!((synced.progress.inserted, synced.gaps.len()), (6_000, 0));
    assert!(synced.progress.pages >= 3, "{synced:?}");
    assert_eq!(stored(&t.store).await.len(), 6_000);
    agrees_with_the_wallets(&t.store, &client).await;

    // Nothing new: one request re-reads the newest millisecond, stores nothing.
    let before = ledger_requests(&sim.url).await;
    let again = sync_account(&client, &t.store, &alice(), None, NOW + 1, |_| {}).await.unwrap();
    assert_eq!((again.progress.inserted, ledger_requests(&sim.url).await - before), (0, 1));

    // A deposit now: only it is read and stored.
    admin(
        &sim.url,
        "/sim/wallets",
        json!({"account": "alice", "type": "exchange", "currency": "ETH",
                                           "delta": "1.5", "kind": "deposit"}),
    )
    .await;
    let later = sync_account(&client, &t.store, &alice(), None, i64::MAX / 2, |_| {}).await.unwrap();
    assert_eq!(later.progress.inserted, 1);
    assert_eq!(later.progress.pages, 1);
    agrees_with_the_wallets(&t.store, &client).await;
}
both!(full_sync_then_incremental, full_then_incremental);

async fn interrupted_syncs_resume(t: TestStore) {
    let sim = sim_with(STATE).await;
    a_year(&sim.url).await;
    let reference = TestStore::sqlite().await;
    sync_account(&client(&sim.url, 4), &reference.store, &alice(), None, NOW, |_| {}).await.unwrap();

    // A request fails after the first page (one attempt only: no retry hides it).
    let once = client(&sim.url, 1);
    let url = sim.url.clone();
    let failed = sync_account(&once, &t.store, &alice(), None, NOW, |p: &Progress| {
        if p.pages == 1 {
            let order =
                json!({"endpoint": "auth/r/ledgers/hist", "kind": "html_5xx", "status": 502, "count": 1});
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(admin(&url, "/sim/faults", order))
            });
        }
    })
    .await;
    assert!(failed.is_err(), "the fault must stop it: {failed:?}");
    let partial = stored(&t.store).await.len();
    assert!((1..6_000).contains(&partial), "{partial}");

    // Dropped while running (Ctrl-C), after one more page.
    let (pages, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let account = alice();
    let run = sync_account(&once, &t.store, &account, None, NOW, move |p: &Progress| {
        let _ = pages.send(p.pages);
    });
    tokio::select! {
        result = run => panic!("finished before it could be interrupted: {result:?}"),
        _ = seen.recv() => {}
    }

    let resumed = sync_account(&once, &t.store, &alice(), None, NOW, |_| {}).await.unwrap();
    assert!(resumed.progress.inserted > 0);
    let (got, want) = (stored(&t.store).await, stored(&reference.store).await);
    assert_eq!(got, want, "the same entries, none twice");
    assert_eq!(t.store.coverage("alice").await.unwrap(), reference.store.coverage("alice").await.unwrap());
}
both!(an_interrupted_sync_resumes_to_the_same_store, interrupted_syncs_resume);

async fn two_at_once(t: TestStore) {
    let sim = sim_with(STATE).await;
    a_year(&sim.url).await;
    let other = Arc::new(t.reopen().await);
    let (first, second) = (client(&sim.url, 4), client(&sim.url, 4));
    let account = alice();
    let (a, b) = tokio::join!(
        sync_account(&first, &t.store, &account, None, NOW, |_| {}),
        sync_account(&second, &other, &account, None, NOW, |_| {}),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.progress.inserted + b.progress.inserted, 6_000, "each entry stored once: {a:?} {b:?}");
    assert_eq!(stored(&t.store).await.len(), 6_000);
    agrees_with_the_wallets(&t.store, &first).await;
}
both!(two_syncs_of_one_account_at_once, two_at_once);

async fn crowded_millisecond(t: TestStore) {
    let sim = sim_with(STATE).await;
    let busy = T0 + 10 * DAY;
    // Older entries, then 3 000 entries on one millisecond over two currencies, then newer ones:
    // the millisecond straddles a page boundary and fills a page by itself.
    bulk(&sim.url, "BTC", "exchange", 500, (T0, T0 + DAY), 1).await;
    bulk(&sim.url, "BTC", "exchange", 1_500, (busy, busy), 1_500).await;
    bulk(&sim.url, "ETH", "exchange", 1_500, (busy, busy), 1_500).await;
    bulk(&sim.url, "BTC", "funding", 100, (busy + 1, busy + DAY), 1).await;
    let client = client(&sim.url, 4);
    let synced = sync_account(&client, &t.store, &alice(), None, NOW, |_| {}).await.unwrap();
    assert_eq!((synced.progress.inserted, synced.gaps.clone()), (3_600, vec![]), "{synced:?}");
    agrees_with_the_wallets(&t.store, &client).await;

    // 3 000 of one currency and wallet in one millisecond: read per category, and said so.
    let crowded = busy + 20 * DAY;
    bulk(&sim.url, "ETH", "exchange", 3_000, (crowded, crowded), 3_000).await;
    let synced = sync_account(&client, &t.store, &alice(), None, NOW, |_| {}).await.unwrap();
    assert_eq!((synced.progress.inserted, synced.gaps.clone()), (3_000, vec![crowded]));
    let gaps = t.store.gaps(Some("alice")).await.unwrap();
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0].reason.contains("per category"), "{gaps:?}");
    agrees_with_the_wallets(&t.store, &client).await;
}
both!(more_entries_on_one_millisecond_than_a_page, crowded_millisecond);

async fn balances_at_dates(t: TestStore) {
    let sim = sim_with(STATE).await;
    // One entry a day on days 1 to 4, and ETH on day 3.
    bulk(&sim.url, "BTC", "exchange", 4, (T0 + DAY, T0 + 4 * DAY), 1).await;
    bulk(&sim.url, "ETH", "exchange", 1, (T0 + 3 * DAY, T0 + 3 * DAY), 1).await;
    let client = client(&sim.url, 4);
    sync_account(&client, &t.store, &alice(), None, NOW, |_| {}).await.unwrap();
    let btc: Vec<_> = stored(&t.store).await.into_iter().filter(|e| e.entry.currency == "BTC").collect();
    assert_eq!(btc.len(), 4);
    let btc_at = |at: &[bfx_store::StoredBalance]| at.iter().find(|b| b.currency == "BTC").map(|b| b.balance);
    for (i, e) in btc.iter().enumerate() {
        // At its millisecond, the balance after it; a millisecond before, the one after the last.
        let at = t.store.balances_at(&[], e.entry.mts).await.unwrap();
        assert_eq!(btc_at(&at), Some(e.entry.balance), "entry {i}");
        let before = t.store.balances_at(&[], e.entry.mts - 1).await.unwrap();
        assert_eq!(btc_at(&before), i.checked_sub(1).map(|p| btc[p].entry.balance), "before entry {i}");
    }
    let day_two = t.store.balances_at(&[], T0 + 2 * DAY + DAY / 2).await.unwrap();
    assert_eq!(day_two.len(), 1, "no ETH yet: {day_two:?}");
    let later = t.store.balances_at(&["alice".to_owned()], NOW).await.unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(t.store.balances_at(&["bob".to_owned()], NOW).await.unwrap(), []);
    let total = btc.iter().try_fold(dec("0"), |sum, e| sum.checked_add(e.entry.amount)).unwrap();
    assert_eq!(total, btc[3].entry.balance, "the chain starts from an empty wallet");
}
both!(balances_at_several_dates, balances_at_dates);

async fn a_removed_entry_is_caught(t: TestStore) {
    let sim = sim_with(STATE).await;
    a_year(&sim.url).await;
    let client = client(&sim.url, 4);
    sync_account(&client, &t.store, &alice(), None, NOW, |_| {}).await.unwrap();
    let victim = stored(&t.store).await[1_234].entry.clone();
    assert!(t.store.delete_entry("alice", victim.id).await.unwrap());
    let chain: Vec<StoredEntry> = t
        .store
        .entries(EntryQuery { order: Order::Chain, ..EntryQuery::default() })
        .try_collect()
        .await
        .unwrap();
    let findings = check_chain(chain);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let bfx_store::history::Finding::Chain { entry, expected, .. } = &findings[0] else { panic!() };
    assert_eq!(entry.entry.balance - *expected, victim.amount, "the gap is the removed amount");
}
both!(reconciliation_catches_a_removed_entry, a_removed_entry_is_caught);
