//! A throwaway PostgreSQL server for tests, and a fresh database on it per test (feature
//! `test-support`; this crate's tests and the CLI's use it).
//!
//! With `BFX_TEST_POSTGRES_URL` set (a role that may `CREATE DATABASE`), that server is used.
//! Otherwise the first call starts one for the whole test process from the system's binaries
//! (`initdb`, `postgres`, `pg_isready` on `PATH` or in `/usr/lib/postgresql/<newest>/bin`): a
//! data directory in a temp dir, trust authentication, listening on 127.0.0.1 only, on a free
//! port, with durability off (it is thrown away). As root it runs as the `postgres` user, since
//! PostgreSQL refuses to run as root. It is started by a small shell script holding the test
//! process's pipe on its stdin: when the test process exits, even killed, the pipe closes, the
//! script's `read` returns, and it stops the server and deletes the directory.
//!
//! Without binaries or URL this fails, saying to install Debian's `postgresql` package: a
//! PostgreSQL test never passes by skipping.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use secrecy::SecretString;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor};

use crate::location::Location;

/// Why no PostgreSQL server is available to a test.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgreSQL tests need a server: {}", self.0)
    }
}

impl std::error::Error for Unavailable {}

/// The variable naming an existing server to test against instead of a throwaway one.
pub const URL_VARIABLE: &str = "BFX_TEST_POSTGRES_URL";

/// A server tests may create databases on.
#[derive(Debug)]
struct Server {
    /// Connects to the `postgres` database as a role allowed to create databases.
    admin: PgConnectOptions,
    /// Only for an external server: databases are dropped after each test there.
    external: bool,
    /// Kept open for the life of the process: closing it stops the throwaway server.
    _keepalive: Option<Mutex<(Child, ChildStdin)>>,
}

static SERVER: OnceLock<Result<Server, Unavailable>> = OnceLock::new();

fn server() -> Result<&'static Server, Unavailable> {
    SERVER.get_or_init(start).as_ref().map_err(Clone::clone)
}

fn start() -> Result<Server, Unavailable> {
    if let Ok(url) = std::env::var(URL_VARIABLE) {
        let admin = PgConnectOptions::from_str(&url)
            .map_err(|e| Unavailable(format!("{URL_VARIABLE} is not a PostgreSQL URL: {e}")))?;
        return Ok(Server { admin, external: true, _keepalive: None });
    }
    let bin = binaries()?;
    let mut last = String::new();
    // A port found free can be taken by someone else before the server binds it: try again.
    for _ in 0..3 {
        match start_throwaway(&bin) {
            Ok(server) => return Ok(server),
            Err(e) => last = e.0,
        }
    }
    Err(Unavailable(last))
}

/// The directory holding `initdb`, `postgres` and `pg_isready`.
fn binaries() -> Result<PathBuf, Unavailable> {
    binaries_in(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql"))
}

/// [`binaries`] with `PATH` and Debian's directory of versions as inputs.
fn binaries_in(path: Option<std::ffi::OsString>, versions_dir: &Path) -> Result<PathBuf, Unavailable> {
    let has_all = |dir: &Path| ["initdb", "postgres", "pg_isready"].iter().all(|b| dir.join(b).is_file());
    if let Some(dir) = path.and_then(|path| std::env::split_paths(&path).find(|d| has_all(d))) {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(versions_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_all(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        Unavailable(format!(
            "no PostgreSQL server binaries (initdb, postgres, pg_isready) on PATH or in /usr/lib/postgresql/*/bin; \
             install Debian's `postgresql` package (apt-get install postgresql), or set {URL_VARIABLE} to a server \
             where this role may CREATE DATABASE"
        ))
    })
}

/// Creates a data directory, starts the server, waits until it accepts connections, prints
/// `ready`, then waits for its stdin to close and stops everything.
const SCRIPT: &str = r#"
bin=$1; port=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/bfx-test-pg.XXXXXX") || { echo "failed: mktemp"; exit 1; }
if ! "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    echo "failed: initdb: $(tail -n 5 "$dir/initdb.log" | tr '\n' ' ')"; rm -rf "$dir"; exit 1
fi
"$bin/postgres" -D "$dir/data" -h 127.0.0.1 -p "$port" -k "$dir" -c fsync=off -c synchronous_commit=off \
    -c full_page_writes=off -c max_connections=400 </dev/null >"$dir/server.log" 2>&1 &
pid=$!
tries=0
until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do
    tries=$((tries + 1))
    if ! kill -0 "$pid" 2>/dev/null || [ "$tries" -gt 600 ]; then
        echo "failed: postgres did not start: $(tail -n 5 "$dir/server.log" | tr '\n' ' ')"
        kill -INT "$pid" 2>/dev/null; wait "$pid"; rm -rf "$dir"; exit 1
    fi
    sleep 0.1
done
echo "ready"
read -r _ignored
kill -INT "$pid"
wait "$pid"
rm -rf "$dir"
"#;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn start_throwaway(bin: &Path) -> Result<Server, Unavailable> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| Unavailable(format!("no free port on 127.0.0.1: {e}")))?
        .port();
    let mut command = if is_root() {
        // PostgreSQL refuses to run as root.
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c"]);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c");
        c
    };
    command
        .arg(SCRIPT)
        .arg("sh")
        .arg(bin)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().map_err(|e| {
        Unavailable(format!(
            "cannot run the server's script ({}): {e}",
            if is_root() { "as the postgres user through runuser" } else { "sh" }
        ))
    })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Unavailable("the server's script has no pipes".into()));
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| Unavailable(format!("cannot read from the server's script: {e}")))?;
    if line.trim() != "ready" {
        let _ = child.wait();
        let said = if line.trim().is_empty() { "nothing (is there a `postgres` user?)" } else { line.trim() };
        return Err(Unavailable(format!(
            "starting a throwaway server from {} failed: {said}",
            bin.display()
        )));
    }
    let admin =
        PgConnectOptions::new().host("127.0.0.1").port(port).username("postgres").database("postgres");
    Ok(Server { admin, external: false, _keepalive: Some(Mutex::new((child, stdin))) })
}

/// A database of its own for one test; dropped with it on an external server.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    options: PgConnectOptions,
    external: bool,
}

impl TestDatabase {
    /// Creates an empty database with a unique name.
    pub async fn create() -> Result<TestDatabase, Unavailable> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let server = server()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name =
            format!("bfx_test_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut admin = PgConnection::connect_with(&server.admin)
            .await
            .map_err(|e| Unavailable(format!("cannot connect to {}: {e}", describe(&server.admin))))?;
        // A generated identifier (letters, digits, underscores): nothing to bind here.
        admin.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await.map_err(|e| {
            Unavailable(format!("cannot create a database on {}: {e}", describe(&server.admin)))
        })?;
        let _ = admin.close().await;
        let options = server.admin.clone().database(&name);
        Ok(TestDatabase { name, options, external: server.external })
    }

    /// Where the database is, for [`crate::Store::open`].
    pub fn location(&self) -> Location {
        Location::Postgres(SecretString::from(self.url()))
    }

    /// Its URL (with the password, if the server needs one).
    pub fn url(&self) -> String {
        self.options.to_url_lossy().to_string()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // The throwaway server goes away with its databases; on someone else's server, clean up.
        if !self.external {
            return;
        }
        let Ok(server) = server() else { return };
        let admin = server.admin.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

fn describe(options: &PgConnectOptions) -> String {
    crate::location::postgres_target(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_binaries_it_says_what_to_install() {
        let none = std::env::temp_dir().join("bfx-no-such-dir");
        let err = binaries_in(Some(none.clone().into_os_string()), &none).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("install Debian's `postgresql` package"), "{message}");
        assert!(message.contains(URL_VARIABLE), "{message}");
    }

    #[test]
    fn the_newest_version_is_found() {
        let dir = tempfile::TempDir::new().unwrap();
        for version in ["9", "15", "13"] {
            let bin = dir.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            for name in ["initdb", "postgres", "pg_isready"] {
                std::fs::write(bin.join(name), "").unwrap();
            }
        }
        assert_eq!(binaries_in(None, dir.path()).unwrap(), dir.path().join("15").join("bin"));
    }
}
