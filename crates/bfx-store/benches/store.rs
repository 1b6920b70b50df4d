//! The store at scale: inserting 1 000 000 ledger entries in pages of 2 500 (SQLite; PostgreSQL
//! with 250 000 on the throwaway test server), and the balances at a time over 1 000 000 entries
//! (96 wallet/currency series in 4 accounts) on both.
//! `cargo bench -p bfx-store --bench store`; targets (BENCHMARKS.md): ≥ 100 000 entries/s into
//! SQLite, `balances_at` ≤ 50 ms. The SQLite file's size per entry is printed once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "benchmark")]

use std::sync::OnceLock;

use bfx_core::ledger::LedgerEntry;
use bfx_store::test_support::TestDatabase;
use bfx_store::{Covered, Location, Store};
use divan::{Bencher, black_box, counter::ItemsCount};
use rust_decimal::Decimal;
use tempfile::TempDir;
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

const ENTRIES: usize = 1_000_000;
const PG_ENTRIES: usize = 250_000;
const PAGE: usize = 2_500;
const ACCOUNTS: [&str; 4] = ["main", "lending", "bot-1", "bot-2"];
const WALLETS: [&str; 3] = ["exchange", "margin", "funding"];
const CURRENCIES: [&str; 8] = ["BTC", "ETH", "USD", "UST", "EUR", "SOL", "XRP", "LTC"];
const START_MTS: i64 = 1_500_000_000_000;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    })
}

/// `n` entries of one account, oldest first, a minute apart, spread over wallets and currencies,
/// with descriptions and amounts of realistic length.
fn ledger(n: usize) -> Vec<LedgerEntry> {
    (0..n)
        .map(|i| {
            let wallet = WALLETS[i % 3];
            let currency = CURRENCIES[(i / 3) % 8];
            LedgerEntry {
                id: 2_500_000_000 + i as i64,
                currency: currency.to_owned(),
                wallet: wallet.to_owned(),
                mts: START_MTS + i as i64 * 60_000,
                amount: Decimal::new(1_644_445 + i as i64, 8),
                balance: Decimal::new(12_345_678_901 + i as i64 * 7, 8),
                description: format!("Margin Funding Payment on wallet {wallet}"),
            }
        })
        .collect()
}

async fn insert(store: &Store, account: &str, entries: &[LedgerEntry]) {
    let lock = store.lock_account(account).await.unwrap();
    for page in entries.chunks(PAGE) {
        let covered = Covered { from_mts: page[0].mts, to_mts: page[page.len() - 1].mts };
        store.store_page(&lock, page, covered).await.unwrap();
    }
}

fn sqlite() -> (TempDir, Store) {
    let dir = TempDir::new().unwrap();
    let location = Location::Sqlite(dir.path().join("history.sqlite"));
    let store = runtime().block_on(Store::open(&location)).unwrap();
    (dir, store)
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn insert_sqlite(bencher: Bencher) {
    let entries = ledger(ENTRIES);
    bencher.counter(ItemsCount::new(ENTRIES)).with_inputs(sqlite).bench_local_values(|(dir, store)| {
        runtime().block_on(insert(&store, "main", &entries));
        (dir, store)
    });
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn insert_postgres(bencher: Bencher) {
    let entries = ledger(PG_ENTRIES);
    bencher
        .counter(ItemsCount::new(PG_ENTRIES))
        .with_inputs(|| {
            runtime().block_on(async {
                let database = TestDatabase::create().await.unwrap_or_else(|e| panic!("{e}"));
                let store = Store::open(&database.location()).await.unwrap();
                (database, store)
            })
        })
        .bench_local_values(|(database, store)| {
            runtime().block_on(insert(&store, "main", &entries));
            (database, store)
        });
}

/// 1 000 000 entries over 4 accounts × 3 wallets × 8 currencies, in SQLite.
fn million() -> &'static Store {
    static STORE: OnceLock<(TempDir, Store)> = OnceLock::new();
    let (dir, store) = STORE.get_or_init(|| {
        let (dir, store) = sqlite();
        let per_account = ENTRIES / ACCOUNTS.len();
        let entries = ledger(per_account);
        runtime().block_on(async {
            for account in ACCOUNTS {
                insert(&store, account, &entries).await;
            }
            sqlx_checkpoint(&store).await;
        });
        (dir, store)
    });
    let bytes: u64 =
        std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        eprintln!("SQLite: {ENTRIES} entries in {bytes} bytes, {} bytes per entry", bytes / ENTRIES as u64);
    });
    store
}

/// The same 1 000 000 entries in a PostgreSQL database of the throwaway test server.
fn million_postgres() -> &'static Store {
    static STORE: OnceLock<(TestDatabase, Store)> = OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        runtime().block_on(async {
            let database = TestDatabase::create().await.unwrap_or_else(|e| panic!("{e}"));
            let store = Store::open(&database.location()).await.unwrap();
            let entries = ledger(ENTRIES / ACCOUNTS.len());
            for account in ACCOUNTS {
                insert(&store, account, &entries).await;
            }
            (database, store)
        })
    });
    store
}

/// Folds the WAL into the database file, so the file's size is the data's.
async fn sqlx_checkpoint(store: &Store) {
    let bfx_store::Backend::Sqlite { path } = store.backend() else { return };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await.unwrap();
    pool.close().await;
}

#[divan::bench(sample_count = 20)]
fn balances_at_postgres(bencher: Bencher) {
    balances_at(bencher, million_postgres());
}

#[divan::bench(sample_count = 20)]
fn balances_at_sqlite(bencher: Bencher) {
    balances_at(bencher, million());
}

fn balances_at(bencher: Bencher, store: &'static Store) {
    let middle = START_MTS + (ENTRIES / ACCOUNTS.len()) as i64 * 30_000;
    bencher.bench_local(|| {
        let balances = runtime().block_on(store.balances_at(&[], black_box(middle))).unwrap();
        assert_eq!(balances.len(), ACCOUNTS.len() * 24);
        balances
    });
}
