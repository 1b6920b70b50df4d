//! Runs each store test on both backends: a SQLite file in a temp dir and a fresh database on a
//! real PostgreSQL server (`bfx_store::test_support`: a throwaway server started once per test
//! binary, or `BFX_TEST_POSTGRES_URL`). `both!(name, body)` makes `name::sqlite` and
//! `name::postgres` from `async fn body(t: TestStore)`.

#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::str::FromStr;

use bfx_core::ledger::LedgerEntry;
use bfx_store::test_support::TestDatabase;
use bfx_store::{Location, Store};
use rust_decimal::Decimal;
use tempfile::TempDir;

/// A store on one backend, and what keeps its database alive.
pub struct TestStore {
    pub store: Store,
    pub location: Location,
    _keep: Keep,
}

enum Keep {
    Dir(TempDir),
    Database(Box<TestDatabase>),
}

impl TestStore {
    pub async fn sqlite() -> TestStore {
        let dir = TempDir::new().unwrap();
        let location = Location::Sqlite(dir.path().join("history").join("history.sqlite"));
        let store = Store::open(&location).await.unwrap();
        TestStore { store, location, _keep: Keep::Dir(dir) }
    }

    pub async fn postgres() -> TestStore {
        let database = TestDatabase::create().await.unwrap_or_else(|e| panic!("{e}"));
        let location = database.location();
        let store = Store::open(&location).await.unwrap();
        TestStore { store, location, _keep: Keep::Database(Box::new(database)) }
    }

    /// Another handle on the same database, as another process would open it.
    pub async fn reopen(&self) -> Store {
        Store::open(&self.location).await.unwrap()
    }

    /// A pool on the test's database behind the store's back, as a broken or newer tool would
    /// use it.
    pub async fn raw_pool(&self) -> sqlx::AnyPool {
        use secrecy::ExposeSecret;
        let url = match &self.location {
            Location::Sqlite(path) => format!("sqlite://{}", path.display()),
            Location::Postgres(url) => url.expose_secret().to_owned(),
        };
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&url).await.unwrap()
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.location, Location::Sqlite(_))
    }
}

#[macro_export]
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::common::TestStore::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body($crate::common::TestStore::postgres().await).await
            }
        }
    };
}

/// The emulator, in this test's runtime, serving `state` (TOML); stopped when dropped.
pub struct Sim {
    pub url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn sim_with(state: &str) -> Sim {
    bfx_client::install_crypto_provider();
    let state = bfx_sim::SimState::from_toml(state, "test state").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bfx_sim::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Sim { url, _stop: stop }
}

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// An entry of `wallet`/`currency` at `mts` with a description of a known category.
pub fn entry(id: i64, wallet: &str, currency: &str, mts: i64, amount: &str, balance: &str) -> LedgerEntry {
    described(id, wallet, currency, mts, amount, balance, &format!("Deposit ({currency}) #{id}"))
}

/// An entry described `description` (its category comes from it), `on wallet …` added.
pub fn described(
    id: i64,
    wallet: &str,
    currency: &str,
    mts: i64,
    amount: &str,
    balance: &str,
    description: &str,
) -> LedgerEntry {
    LedgerEntry {
        id,
        currency: currency.into(),
        wallet: wallet.into(),
        mts,
        amount: dec(amount),
        balance: dec(balance),
        description: format!("{description} on wallet {wallet}"),
    }
}
