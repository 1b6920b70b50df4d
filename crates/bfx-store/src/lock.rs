//! The per-account sync lock: one sync of an account at a time, across processes and machines.
//!
//! - SQLite: an OS file lock (`flock`) on `<database>-locks/<sha256 of the account>.lock`. The
//!   kernel drops it when the holder exits or dies, so there is no staleness rule to get wrong;
//!   the holder writes its pid and host into the file for the message a waiter shows. (A SQLite
//!   file is shared by processes of one machine, which is what such a lock covers.)
//! - PostgreSQL: a session advisory lock on a 64-bit key derived from the account's name, taken
//!   on a connection of its own that the guard keeps: dropping the guard closes that connection,
//!   and the server releases the lock with the session, also when the holder dies. The holder is
//!   named from `pg_locks` and `pg_stat_activity` (its `application_name` carries pid and host).
//!
//! A second caller polls for a bounded time, then gets [`StoreError::Locked`].

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use sqlx::any::AnyConnectOptions;
use sqlx::{Connection, Row};
use tokio::time::Instant;

use crate::error::StoreError;

/// Holds an account's sync lock until dropped or [released](AccountLock::release). Writing
/// methods of [`crate::Store`] take it as proof that this process syncs the account.
pub struct AccountLock {
    account: String,
    held: Held,
}

enum Held {
    File(File),
    Postgres(AnyConnection),
}

impl fmt::Debug for AccountLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.held {
            Held::File(_) => "file",
            Held::Postgres(_) => "postgres advisory",
        };
        f.debug_struct("AccountLock").field("account", &self.account).field("kind", &kind).finish()
    }
}

impl AccountLock {
    /// The account this lock is for.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Releases the lock now (dropping the guard does too; this also waits for PostgreSQL to
    /// confirm).
    pub async fn release(self) -> Result<(), StoreError> {
        match self.held {
            Held::File(file) => drop(file),
            Held::Postgres(mut conn) => {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(advisory_key(&self.account))
                    .execute(&mut conn)
                    .await
                    .map_err(StoreError::db("releasing the account lock"))?;
                conn.close().await.map_err(StoreError::db("closing the account lock's connection"))?;
            }
        }
        Ok(())
    }
}

/// First poll after 10 ms, then twice as long each time, at most this long.
const MAX_POLL: Duration = Duration::from_millis(200);

/// Paces the tries of a bounded wait.
struct Poll {
    deadline: Instant,
    pause: Duration,
}

impl Poll {
    fn new(wait: Duration) -> Poll {
        Poll { deadline: Instant::now() + wait, pause: Duration::from_millis(10) }
    }

    /// Waits before the next try; `false` once the wait is over.
    async fn again(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause.min(self.deadline - now)).await;
        self.pause = (self.pause * 2).min(MAX_POLL);
        true
    }
}

/// `pid 1234 on host`.
fn this_process() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("pid {} on {host}", std::process::id()),
        None => format!("pid {}", std::process::id()),
    }
}

/// The lock file of `account` beside the database `db`.
pub(crate) fn lock_file_path(db: &Path, account: &str) -> PathBuf {
    let mut dir = db.as_os_str().to_owned();
    dir.push("-locks");
    let digest = hex::encode(Sha256::digest(account.as_bytes()));
    PathBuf::from(dir).join(format!("{}.lock", &digest[..32]))
}

pub(crate) async fn lock_sqlite(db: &Path, account: &str, wait: Duration) -> Result<AccountLock, StoreError> {
    let path = lock_file_path(db, account);
    let fail = |source: std::io::Error| StoreError::LockFile {
        account: account.to_owned(),
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(fail)?;
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut pace = Poll::new(wait);
    let held = loop {
        // A fresh open each try: a lock belongs to an open file, and each guard owns its own.
        let file = options.open(&path).map_err(fail)?;
        match file.try_lock() {
            Ok(()) => break Some(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
        }
        if !pace.again().await {
            break None;
        }
    };
    match held {
        Some(mut file) => {
            // Best effort: the holder's name only makes a waiter's message precise.
            let note = format!("{} for account {account:?}", this_process());
            let _ = file.set_len(0).and_then(|()| file.write_all(note.as_bytes()));
            Ok(AccountLock { account: account.to_owned(), held: Held::File(file) })
        }
        None => {
            let holder = File::open(&path).ok().and_then(|f| {
                let mut text = String::new();
                let mut f = f.take(256);
                f.seek(SeekFrom::Start(0)).ok()?;
                f.read_to_string(&mut text).ok()?;
                let text = text.trim().to_owned();
                (!text.is_empty()).then_some(text)
            });
            Err(StoreError::Locked { account: account.to_owned(), holder, waited: wait })
        }
    }
}

/// The advisory lock key of an account: the first 8 bytes of a SHA-256, so unrelated users of
/// advisory locks in the same database are unlikely to collide.
fn advisory_key(account: &str) -> i64 {
    let digest =
        Sha256::new().chain_update(b"bfx-store account lock\0").chain_update(account.as_bytes()).finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

pub(crate) async fn lock_postgres(
    options: &AnyConnectOptions,
    account: &str,
    wait: Duration,
    scrub: impl Fn(String) -> String,
    target: &str,
) -> Result<AccountLock, StoreError> {
    let mut conn = AnyConnection::connect_with(options)
        .await
        .map_err(|e| StoreError::Open { target: target.to_owned(), problem: scrub(e.to_string()) })?;
    sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(format!("bfx sync ({})", this_process()))
        .execute(&mut conn)
        .await
        .map_err(StoreError::db("naming the account lock's connection"))?;
    let key = advisory_key(account);
    let mut pace = Poll::new(wait);
    let acquired = loop {
        let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(StoreError::db("taking the account lock"))?;
        if got {
            break Some(());
        }
        if !pace.again().await {
            break None;
        }
    };
    match acquired {
        Some(()) => Ok(AccountLock { account: account.to_owned(), held: Held::Postgres(conn) }),
        None => {
            let holder = postgres_holder(&mut conn, key).await;
            Err(StoreError::Locked { account: account.to_owned(), holder, waited: wait })
        }
    }
}

/// Who holds the advisory lock `key`, as far as this session may see (best effort).
async fn postgres_holder(conn: &mut AnyConnection, key: i64) -> Option<String> {
    let row = sqlx::query(
        "SELECT COALESCE(a.application_name, ''), COALESCE(CAST(a.client_addr AS TEXT), 'local socket'), a.pid
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND CAST(l.classid AS BIGINT) = $1 AND CAST(l.objid AS BIGINT) = $2
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind((key >> 32) & 0xffff_ffff)
    .bind(key & 0xffff_ffff)
    .fetch_optional(conn)
    .await
    .ok()??;
    let name: String = row.try_get(0).ok()?;
    let client: String = row.try_get(1).ok()?;
    let pid: i32 = row.try_get(2).ok()?;
    let name = if name.is_empty() { "a session".to_owned() } else { name };
    Some(format!("{name}, from {client}, server pid {pid}"))
}
