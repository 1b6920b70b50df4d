//! Where the history lives: a SQLite file (the default, under the user's data directory) or a
//! PostgreSQL database named by a URL that may hold a password. The URL is a `SecretString`; what
//! is shown of it (Debug, [`Backend`]'s Display, errors) is `user@host:port/database`, never the
//! password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;

use crate::error::StoreError;

/// Where a [`crate::Store`] keeps its data.
#[derive(Clone)]
pub enum Location {
    /// A SQLite database file, created (with its directories) when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://user:password@host:port/database`. The database must
    /// exist; its tables are created by the store.
    Postgres(SecretString),
}

impl Location {
    /// `bfx/history.sqlite` under the user's data directory (`$XDG_DATA_HOME`,
    /// `~/.local/share`).
    pub fn default_sqlite() -> Result<PathBuf, StoreError> {
        use etcetera::BaseStrategy;
        let strategy = etcetera::choose_base_strategy().map_err(|_| StoreError::NoDataDir)?;
        Ok(strategy.data_dir().join("bfx").join("history.sqlite"))
    }

    /// A location from text such as `BFX_STORE_URL`: a `postgres://` or `postgresql://` URL, a
    /// `sqlite:` URL (`sqlite:///abs/path`, `sqlite:rel/path`) or a plain file path.
    pub fn parse(text: &str) -> Result<Location, StoreError> {
        let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let location = Location::Postgres(SecretString::from(text.to_owned()));
            postgres_options(&location)?;
            return Ok(location);
        }
        let path = text.strip_prefix("sqlite://").or_else(|| text.strip_prefix("sqlite:")).unwrap_or(text);
        if path.is_empty() || lower.contains("://") && !lower.starts_with("sqlite:") {
            return Err(StoreError::BadLocation { location: redact_text(text) });
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }

    /// What errors and [`Backend`] call this location: the path, or `user@host:port/database`.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => match PgConnectOptions::from_str(url.expose_secret()) {
                Ok(options) => postgres_target(&options),
                Err(_) => "a PostgreSQL URL that cannot be parsed".to_owned(),
            },
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Location::Postgres(_) => f.debug_tuple("Postgres").field(&self.describe()).finish(),
        }
    }
}

/// Which database a store uses, for messages: Display is `SQLite <path>` or
/// `PostgreSQL <user@host:port/database>` (never a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// `user@host:port/database`.
        server: String,
    },
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Sqlite { path } => write!(f, "SQLite {}", path.display()),
            Backend::Postgres { server } => write!(f, "PostgreSQL {server}"),
        }
    }
}

/// The parsed PostgreSQL options of a location, with a parse error that never repeats the URL.
pub(crate) fn postgres_options(location: &Location) -> Result<PgConnectOptions, StoreError> {
    match location {
        Location::Postgres(url) => PgConnectOptions::from_str(url.expose_secret())
            .map_err(|_| StoreError::BadLocation { location: redact_text(url.expose_secret()) }),
        Location::Sqlite(path) => Err(StoreError::BadLocation { location: path.display().to_string() }),
    }
}

/// `user@host:port/database`.
pub(crate) fn postgres_target(options: &PgConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    )
}

/// `scheme://user:***@rest` for a URL-like text with a password; other texts unchanged.
fn redact_text(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else { return text.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => text.to_owned(),
    }
}

/// Removes every occurrence of the location's password (raw and percent-encoded) from a message
/// produced while connecting, so a driver error that quotes the URL cannot leak it.
pub(crate) fn scrub(location: &Location, message: String) -> String {
    let Location::Postgres(url) = location else { return message };
    let url = url.expose_secret();
    let Some((_, rest)) = url.split_once("://") else { return message };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let Some(userinfo) = authority.rfind('@').map(|at| &authority[..at]) else { return message };
    let Some((_, password)) = userinfo.split_once(':') else { return message };
    if password.is_empty() {
        return message;
    }
    let mut out = message.replace(password, "***");
    // The decoded form too (`p%40ss` is `p@ss`).
    let decoded = percent_decode(password);
    if !decoded.is_empty() && decoded != password {
        out = out.replace(&decoded, "***");
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Creates a SQLite file's directories (mode 0700) and the file itself (mode 0600) when missing,
/// so the database, its `-wal` and `-shm` files (SQLite gives them the database's mode) are the
/// user's alone.
pub(crate) fn prepare_sqlite_file(path: &Path) -> Result<(), StoreError> {
    let fail = |problem: String| StoreError::Open { target: path.display().to_string(), problem };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| fail(format!("cannot create the directory {}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| fail(format!("cannot create or open the file: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_describe_never_show_the_password() {
        let location = Location::parse("postgres://bfx:s3cr%40t-pw@db.example:6543/history").unwrap();
        let shown = format!("{location:?} {}", location.describe());
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("bfx@db.example:6543/history"), "{shown}");
        let scrubbed = scrub(&location, "failed for postgres://bfx:s3cr%40t-pw@x and s3cr@t-pw".into());
        assert!(!scrubbed.contains("s3cr"), "{scrubbed}");
    }

    #[test]
    fn locations_from_text() {
        assert!(
            matches!(Location::parse("/tmp/h.sqlite").unwrap(), Location::Sqlite(p) if p == Path::new("/tmp/h.sqlite"))
        );
        assert!(
            matches!(Location::parse("sqlite:///tmp/h.sqlite").unwrap(), Location::Sqlite(p) if p == Path::new("/tmp/h.sqlite"))
        );
        assert!(matches!(Location::parse("postgresql://u@h/d").unwrap(), Location::Postgres(_)));
        let err = Location::parse("mysql://u:pw@h/d").unwrap_err();
        assert!(!err.to_string().contains("pw@"), "{err}");
    }

    #[test]
    fn the_default_is_under_the_data_dir() {
        let path = Location::default_sqlite().unwrap();
        assert!(path.ends_with("bfx/history.sqlite"), "{}", path.display());
    }
}
