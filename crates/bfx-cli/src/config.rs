//! Settings, resolved in one place: defaults → config file → environment → flags (later wins).
//!
//! The environment is passed in as a map so tests never touch the process. Secrets become
//! [`SecretString`]s as they are read, and error messages never quote a config line (it could be
//! the one holding a secret): they name the file, the line and what is wrong.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bfx_client::endpoints::base_url;
use bfx_client::{Credentials, Endpoints, RateLimits};
use secrecy::SecretString;
use serde::Deserialize;
use toml::Spanned;

/// What the flags say about configuration.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub api_url: Option<String>,
    pub public_url: Option<String>,
    pub ws_url: Option<String>,
    pub connect_timeout_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub no_wait: bool,
}

impl From<crate::cli::ConnectArgs> for Overrides {
    fn from(args: crate::cli::ConnectArgs) -> Overrides {
        Overrides {
            config: args.config,
            api_url: args.api_url,
            public_url: args.public_url,
            ws_url: args.ws_url,
            connect_timeout_secs: args.connect_timeout,
            request_timeout_secs: args.timeout,
            no_wait: args.no_wait,
        }
    }
}

/// How to talk to the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Wait out a rate-limit block (default) or fail at once.
    pub wait_on_rate_limit: bool,
    /// The request budgets bfx keeps to (Bitfinex's, unless raised for an emulator).
    pub limits: RateLimits,
    /// New WebSocket connections per [`WS_WINDOW`] (Bitfinex's 5, unless raised likewise).
    pub ws_connections: u32,
}

/// The window of Bitfinex's WebSocket connection limit (5 per 15 s).
pub const WS_WINDOW: Duration = Duration::from_secs(15);
/// Bitfinex's limit of new authenticated WebSocket connections per [`WS_WINDOW`] per IP.
const BITFINEX_WS_CONNECTIONS: u32 = 5;

#[derive(Debug)]
pub struct Settings {
    pub endpoints: Endpoints,
    pub network: Network,
    pub accounts: Vec<Account>,
    /// Configured accounts whose secret cannot be read: only the commands using them fail.
    pub unreadable: Vec<Unreadable>,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// Where `bfx history` keeps the ledger.
    pub store: StoreSetting,
    /// `[serve] token_file`: the bearer token `bfx serve` asks for on a non-loopback listener
    /// (`BFX_SERVE_TOKEN` wins).
    pub serve_token_file: Option<PathBuf>,
}

/// Where the history store is: `BFX_STORE_URL`, else `[store] url`, else the default SQLite file.
#[derive(Debug, Clone)]
pub enum StoreSetting {
    /// Given as a URL or path (the PostgreSQL password stays a secret), and by which setting.
    Given { location: bfx_store::Location, source: &'static str },
    /// `$XDG_DATA_HOME/bfx/history.sqlite`.
    Default,
}

impl StoreSetting {
    /// The location to open.
    pub fn location(&self) -> Result<bfx_store::Location, ConfigError> {
        match self {
            StoreSetting::Given { location, .. } => Ok(location.clone()),
            StoreSetting::Default => bfx_store::Location::default_sqlite()
                .map(bfx_store::Location::Sqlite)
                .map_err(|e| ConfigError::Invalid(e.to_string())),
        }
    }

    /// `SQLite /path (default)` or `PostgreSQL user@host:port/db (from BFX_STORE_URL)`: never a
    /// password.
    pub fn describe(&self) -> String {
        let (location, source) = match self {
            StoreSetting::Given { location, source } => (Ok(location.clone()), *source),
            StoreSetting::Default => (self.location(), "default"),
        };
        match location {
            Ok(location @ bfx_store::Location::Sqlite(_)) => {
                format!("SQLite {} ({source})", location.describe())
            }
            Ok(location @ bfx_store::Location::Postgres(_)) => {
                format!("PostgreSQL {} ({source})", location.describe())
            }
            Err(e) => format!("unknown: {e}"),
        }
    }
}

/// The longest timeout accepted (an hour): longer ones are a typo, and a wait of `u64::MAX`
/// seconds cannot even be represented as a point in time.
pub const MAX_TIMEOUT_SECS: u64 = 3_600;

#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub credentials: Credentials,
    /// Where the secret came from, for hints (`BFX_API_SECRET`, `secret_file …`); never the secret.
    pub secret_source: String,
}

impl Account {
    /// The account as the client reads it.
    pub fn reader(&self) -> bfx_client::Account {
        bfx_client::Account { name: self.name.clone(), credentials: self.credentials.clone() }
    }
}

/// The accounts named (all of them when `names` is empty), in the order named; an account named
/// twice is read once (counting it twice would double its value).
pub fn select(accounts: &[Account], names: &[String]) -> Result<Vec<Account>, ConfigError> {
    if names.is_empty() {
        return Ok(accounts.to_vec());
    }
    let mut seen = std::collections::HashSet::new();
    names
        .iter()
        .filter(|name| seen.insert(name.as_str()))
        .map(|name| {
            accounts.iter().find(|a| &a.name == name).cloned().ok_or_else(|| {
                let known: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
                ConfigError::Invalid(format!("no account named {name:?} (configured: {})", known.join(", ")))
            })
        })
        .collect()
}

/// Pairs of account names that share one API key (one Bitfinex account under two names).
pub fn same_key(accounts: &[Account]) -> Vec<(&str, &str)> {
    let mut pairs = Vec::new();
    for (i, a) in accounts.iter().enumerate() {
        for b in &accounts[i + 1..] {
            if a.credentials.key() == b.credentials.key() {
                pairs.push((a.name.as_str(), b.name.as_str()));
            }
        }
    }
    pairs
}

/// A quote no trading pair uses would leave everything unpriced: that is a wrong request.
pub fn check_quote(market: &bfx_core::Market, quote: &str) -> Result<(), ConfigError> {
    match market.has_currency(quote) {
        true => Ok(()),
        false => Err(ConfigError::Invalid(format!(
            "unknown quote currency {quote:?}: no Bitfinex trading pair uses it (try USD, EUR, BTC or UST)"
        ))),
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    /// An emulator state file that cannot be used is a configuration error too (exit 2).
    pub fn from_state(error: bfx_sim::StateError) -> ConfigError {
        ConfigError::Invalid(error.to_string())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    endpoints: FileEndpoints,
    #[serde(default)]
    network: FileNetwork,
    #[serde(default, rename = "account")]
    accounts: Vec<FileAccount>,
    #[serde(default)]
    store: FileStore,
    #[serde(default)]
    serve: FileServe,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServe {
    /// A file holding `bfx serve`'s bearer token (never the token itself in the config).
    token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStore {
    /// A path, `sqlite:…` or `postgres://user:password@host/db`: may hold a password.
    url: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNetwork {
    connect_timeout_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
    /// Budgets other than Bitfinex's, for an emulator or gateway of one's own.
    #[serde(default)]
    requests_per_minute: BTreeMap<String, u32>,
    ws_connections_per_15s: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEndpoints {
    api_url: Option<String>,
    public_url: Option<String>,
    ws_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAccount {
    name: Spanned<String>,
    key: String,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    secret: Option<SecretString>,
    #[serde(default)]
    secret_keyring: bool,
}

impl Settings {
    /// Resolves the settings. `default_path` is where the config file lives when neither
    /// `--config` nor `BFX_CONFIG` says otherwise; a missing default file is not an error.
    pub fn resolve(
        flags: &Overrides,
        env: &HashMap<String, String>,
        default_path: Option<PathBuf>,
    ) -> Result<Settings, ConfigError> {
        let (file, path) = match config_path(flags, env, default_path) {
            ConfigPath::Explicit(path) => (Some(read_file(&path, env)?), Some(path)),
            ConfigPath::Default(path) if path.exists() => (Some(read_file(&path, env)?), Some(path)),
            _ => (None, None),
        };
        let (file_endpoints, file_network, mut accounts, mut unreadable, file_store, serve_token_file) =
            file.unwrap_or_default();

        if let Some(account) = env_account(env)? {
            accounts.retain(|a| a.name != account.name);
            unreadable.retain(|a| a.name != account.name);
            accounts.push(account);
        }

        let pick = |flag: &Option<String>, var: &str, file: &Option<String>| {
            flag.clone().or_else(|| env.get(var).cloned()).or_else(|| file.clone())
        };
        let api = pick(&flags.api_url, "BFX_API_URL", &file_endpoints.api_url);
        let public = pick(&flags.public_url, "BFX_PUBLIC_URL", &file_endpoints.public_url);
        let ws = pick(&flags.ws_url, "BFX_WS_URL", &file_endpoints.ws_url);
        let invalid = |e: bfx_client::Error| ConfigError::Invalid(e.to_string());
        // A REST URL alone points everything at one server (an emulator).
        let mut endpoints = match &api {
            Some(api) => Endpoints::single(api).map_err(invalid)?,
            None => Endpoints::bitfinex(),
        };
        if let Some(public) = public {
            endpoints.public_url = base_url(&public).map_err(invalid)?;
        }
        if let Some(ws) = ws {
            endpoints.ws_url = ws;
        }
        let secs = |flag: Option<u64>, file: Option<u64>, default: u64| -> Result<Duration, ConfigError> {
            match flag.or(file).unwrap_or(default) {
                n @ 1..=MAX_TIMEOUT_SECS => Ok(Duration::from_secs(n)),
                n => Err(ConfigError::Invalid(format!(
                    "timeouts must be from 1 to {MAX_TIMEOUT_SECS} seconds (got {n})"
                ))),
            }
        };
        let (limits, ws_connections) = budgets(&file_network, &endpoints)?;
        let network = Network {
            connect_timeout: secs(flags.connect_timeout_secs, file_network.connect_timeout_secs, 5)?,
            request_timeout: secs(flags.request_timeout_secs, file_network.request_timeout_secs, 15)?,
            wait_on_rate_limit: !flags.no_wait,
            limits,
            ws_connections,
        };
        let store = match (env.get("BFX_STORE_URL").filter(|u| !u.is_empty()), file_store) {
            (Some(url), _) => StoreSetting::Given { location: store_location(url)?, source: "BFX_STORE_URL" },
            (None, Some(location)) => StoreSetting::Given { location, source: "[store] url" },
            (None, None) => StoreSetting::Default,
        };
        Ok(Settings { endpoints, network, accounts, unreadable, file: path, store, serve_token_file })
    }

    /// The accounts named (all when `names` is empty); an unknown name is an error.
    pub fn select(&self, names: &[String]) -> Result<Vec<Account>, ConfigError> {
        // Every account is used when none is named; else only the named ones need their secret.
        if let Some(missing) = self.unreadable.iter().find(|u| names.is_empty() || names.contains(&u.name)) {
            return Err(ConfigError::Invalid(missing.error.clone()));
        }
        if self.accounts.is_empty() {
            let place = match &self.file {
                Some(path) => format!("{} has no [[account]] entries", path.display()),
                None => "no config file was found".to_owned(),
            };
            return Err(ConfigError::Invalid(format!(
                "no accounts configured ({place}): set BFX_API_KEY and BFX_API_SECRET, or add an [[account]] to the config file"
            )));
        }
        select(&self.accounts, names)
    }
}

/// Where the config file is: `--config`, else `BFX_CONFIG` (both must exist), else the default
/// path (may be absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigPath {
    Explicit(PathBuf),
    Default(PathBuf),
    /// No home directory to derive the default from.
    Unknown,
}

impl ConfigPath {
    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigPath::Explicit(path) | ConfigPath::Default(path) => Some(path),
            ConfigPath::Unknown => None,
        }
    }
}

pub fn config_path(
    flags: &Overrides,
    env: &HashMap<String, String>,
    default_path: Option<PathBuf>,
) -> ConfigPath {
    match flags.config.clone().or_else(|| env.get("BFX_CONFIG").map(PathBuf::from)) {
        Some(path) => ConfigPath::Explicit(path),
        None => default_path.map_or(ConfigPath::Unknown, ConfigPath::Default),
    }
}

/// The commented template `bfx config init` writes.
pub const TEMPLATE: &str = include_str!("config.template.toml");

/// Writes [`TEMPLATE`] to `path` with mode 0600 (its folder 0700 if created); refuses to
/// overwrite an existing file unless `force`.
pub fn write_template(path: &Path, force: bool) -> Result<(), ConfigError> {
    let fail = |message: String| ConfigError::File { path: path.to_owned(), message };
    if path.exists() && !force {
        return Err(fail("already exists; use --force to overwrite it".into()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| fail(format!("cannot create its folder: {e}")))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| fail(format!("cannot write: {e}")))?;
    std::io::Write::write_all(&mut file, TEMPLATE.as_bytes())
        .map_err(|e| fail(format!("cannot write: {e}")))?;
    // `mode` applies only to new files; an overwritten one is tightened too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(format!("cannot set mode 0600: {e}")))?;
    }
    Ok(())
}

impl Settings {
    /// The effective settings as TOML-like text, secrets masked (`bfx config show`).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        out.push_str(&match &self.file {
            Some(path) => format!("# config file: {}\n", path.display()),
            None => "# no config file\n".to_owned(),
        });
        out.push_str(&format!(
            "[endpoints]\napi_url = {:?}\npublic_url = {:?}\nws_url = {:?}\n",
            self.endpoints.api_url, self.endpoints.public_url, self.endpoints.ws_url
        ));
        out.push_str(&format!(
            "\n[network]\nconnect_timeout_secs = {}\nrequest_timeout_secs = {}\n",
            self.network.connect_timeout.as_secs(),
            self.network.request_timeout.as_secs()
        ));
        out.push_str(&format!("\n[store]\n# history store: {}\n", self.store.describe()));
        if let StoreSetting::Given { location, .. } = &self.store {
            out.push_str(&format!("url = {:?}\n", masked_url(location)));
        }
        for account in &self.accounts {
            out.push_str(&format!(
                "\n[[account]]\nname = {:?}\nkey = {:?}\nsecret = \"********\"  # from {}\n",
                account.name,
                account.credentials.key(),
                account.secret_source
            ));
        }
        for account in &self.unreadable {
            out.push_str(&format!(
                "\n[[account]]\nname = {:?}\nkey = {:?}\n# secret: MISSING: {}\n",
                account.name, account.key, account.error
            ));
        }
        out
    }
}

/// `BFX_API_KEY` + `BFX_API_SECRET` define an account named `default`.
fn env_account(env: &HashMap<String, String>) -> Result<Option<Account>, ConfigError> {
    match (env.get("BFX_API_KEY"), env.get("BFX_API_SECRET")) {
        (None, None) => Ok(None),
        (Some(key), Some(secret)) if !key.is_empty() && !secret.is_empty() => Ok(Some(Account {
            name: "default".to_owned(),
            credentials: Credentials::new(key.clone(), SecretString::from(secret.clone())),
            secret_source: "BFX_API_SECRET".to_owned(),
        })),
        (Some(_), None) => Err(ConfigError::Invalid("BFX_API_KEY is set but BFX_API_SECRET is not".into())),
        (None, Some(_)) => Err(ConfigError::Invalid("BFX_API_SECRET is set but BFX_API_KEY is not".into())),
        _ => Err(ConfigError::Invalid("BFX_API_KEY and BFX_API_SECRET must not be empty".into())),
    }
}

type FileParts =
    (FileEndpoints, FileNetwork, Vec<Account>, Vec<Unreadable>, Option<bfx_store::Location>, Option<PathBuf>);

/// `[network] requests_per_minute` and `ws_connections_per_15s` over Bitfinex's budgets: each
/// endpoint one bfx knows, each at least 1, and none above Bitfinex's own while any endpoint is
/// Bitfinex's (going over them there only gets the IP blocked).
fn budgets(file: &FileNetwork, endpoints: &Endpoints) -> Result<(RateLimits, u32), ConfigError> {
    let bitfinex = Endpoints::bitfinex();
    let at_bitfinex = endpoints.api_url == bitfinex.api_url
        || endpoints.public_url == bitfinex.public_url
        || endpoints.ws_url == bitfinex.ws_url;
    let check = |name: String, value: u32, own: u32| match value {
        0 => Err(ConfigError::Invalid(format!("[network] {name} must be at least 1"))),
        n if n > own && at_bitfinex => Err(ConfigError::Invalid(format!(
            "[network] {name} = {n} is above Bitfinex's own limit ({own}): higher limits are for an emulator or a gateway of your own (--api-url, --ws-url), never Bitfinex"
        ))),
        n => Ok(n),
    };
    let mut limits = RateLimits::bitfinex();
    for (endpoint, &value) in &file.requests_per_minute {
        let Some(&own) = limits.per_endpoint.get(endpoint) else {
            let known: Vec<&str> = limits.per_endpoint.keys().map(String::as_str).collect();
            return Err(ConfigError::Invalid(format!(
                "[network] requests_per_minute: unknown endpoint {endpoint:?} (known: {})",
                known.join(", ")
            )));
        };
        let value = check(format!("requests_per_minute.{endpoint:?}"), value, own)?;
        limits = limits.with_limit(endpoint, value);
    }
    let ws = match file.ws_connections_per_15s {
        Some(n) => check("ws_connections_per_15s".to_owned(), n, BITFINEX_WS_CONNECTIONS)?,
        None => BITFINEX_WS_CONNECTIONS,
    };
    Ok((limits, ws))
}

/// A store location from a URL or path; the error never repeats a password.
fn store_location(text: &str) -> Result<bfx_store::Location, ConfigError> {
    bfx_store::Location::parse(text).map_err(|e| ConfigError::Invalid(format!("store url: {e}")))
}

/// The store's URL for display: `postgres://user:***@host:port/db`, or the SQLite path.
fn masked_url(location: &bfx_store::Location) -> String {
    match location {
        bfx_store::Location::Sqlite(path) => path.display().to_string(),
        bfx_store::Location::Postgres(_) => {
            let target = location.describe();
            match target.split_once('@') {
                Some((user, rest)) => format!("postgres://{user}:***@{rest}"),
                None => format!("postgres://{target}"),
            }
        }
    }
}

/// Whether a store URL carries a password (`scheme://user:password@…`).
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else { return false };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    authority.rfind('@').is_some_and(|at| authority[..at].contains(':'))
}

/// A configured account whose secret cannot be read now (its variable is not set, its file or
/// keyring entry is missing): an error only for a command that uses the account.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub name: String,
    pub key: String,
    /// What is wrong, naming the file and line.
    pub error: String,
}

fn read_file(path: &Path, env: &HashMap<String, String>) -> Result<FileParts, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    parse_file(&text, path, env, file_mode(path))
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}

/// Parses a config file's text. `mode` is the file's Unix mode (to refuse inline secrets in a
/// file others can read).
fn parse_file(
    text: &str,
    path: &Path,
    env: &HashMap<String, String>,
    mode: Option<u32>,
) -> Result<FileParts, ConfigError> {
    let fail = |message: String| ConfigError::File { path: path.to_owned(), message };
    let config: FileConfig = toml::from_str(text).map_err(|e| {
        // Not `e.to_string()`: it quotes the offending line, which may hold a secret.
        let line = e.span().map(|span| format!("line {}: ", line_of(text, span.start))).unwrap_or_default();
        fail(format!("{line}{}", e.message().trim_end()))
    })?;

    let mut seen = HashSet::new();
    let mut accounts = Vec::with_capacity(config.accounts.len());
    let mut unreadable = Vec::new();
    for entry in config.accounts {
        let line = line_of(text, entry.name.span().start);
        let name = entry.name.into_inner();
        let at = |message: String| fail(format!("line {line}: account {name:?}: {message}"));
        if name.trim().is_empty() {
            return Err(fail(format!("line {line}: an account name must not be empty")));
        }
        if !seen.insert(name.clone()) {
            return Err(at("duplicate account name".into()));
        }
        if entry.key.trim().is_empty() {
            return Err(at("key must not be empty".into()));
        }
        let sources = [
            entry.secret_env.is_some(),
            entry.secret_file.is_some(),
            entry.secret.is_some(),
            entry.secret_keyring,
        ];
        // A secret that cannot be read now fails only the commands that use this account.
        let (read, secret_source) = match (entry.secret_env, entry.secret_file, entry.secret) {
            _ if sources.iter().filter(|s| **s).count() > 1 => {
                return Err(at("give only one of secret_env, secret_file, secret, secret_keyring".into()));
            }
            _ if entry.secret_keyring => (keyring_secret(&name), format!("the OS keyring entry bfx/{name}")),
            (Some(var), _, _) => match env.get(&var) {
                Some(value) if !value.is_empty() => (Ok(SecretString::from(value.clone())), var),
                _ => (Err(format!("secret_env {var} is not set in the environment")), var),
            },
            (_, Some(file), _) => {
                let file = match file.is_relative() {
                    true => path.parent().unwrap_or(Path::new(".")).join(file),
                    false => file,
                };
                (read_secret_file(&file), format!("secret_file {}", file.display()))
            }
            (_, _, Some(secret)) => {
                if let Some(mode) = mode
                    && mode & 0o077 != 0
                {
                    return Err(at(format!(
                        "holds an inline secret but the file is readable by others (mode {:o}); run: chmod 600 {}",
                        mode & 0o777,
                        path.display()
                    )));
                }
                (Ok(secret), format!("the secret of account {name:?} in {}", path.display()))
            }
            (None, None, None) => {
                return Err(at("no secret: set secret_env, secret_file, secret or secret_keyring".into()));
            }
        };
        match read {
            Ok(secret) => accounts.push(Account {
                name,
                credentials: Credentials::new(entry.key, secret),
                secret_source,
            }),
            Err(why) => {
                let error = at(why).to_string();
                unreadable.push(Unreadable { name, key: entry.key, error });
            }
        }
    }
    let store = match config.store.url {
        None => None,
        Some(url) => {
            use secrecy::ExposeSecret;
            if has_password(url.expose_secret())
                && let Some(mode) = mode
                && mode & 0o077 != 0
            {
                return Err(fail(format!(
                    "[store] url holds a password but the file is readable by others (mode {:o}); run: chmod 600 {} (or set BFX_STORE_URL instead)",
                    mode & 0o777,
                    path.display()
                )));
            }
            Some(store_location(url.expose_secret()).map_err(|e| fail(e.to_string()))?)
        }
    };
    Ok((config.endpoints, config.network, accounts, unreadable, store, config.serve.token_file))
}

/// The OS keyring entry for an account: service `bfx`, user = the account name.
#[cfg(feature = "keyring")]
fn keyring_secret(account: &str) -> Result<SecretString, String> {
    let entry = keyring::Entry::new(KEYRING_SERVICE, account).map_err(|e| format!("OS keyring: {e}"))?;
    entry.get_password().map(SecretString::from).map_err(|e| {
        format!("no secret in the OS keyring for bfx/{account} ({e}); store it with: bfx config keyring-set {account}")
    })
}

#[cfg(not(feature = "keyring"))]
fn keyring_secret(_account: &str) -> Result<SecretString, String> {
    Err("secret_keyring needs a bfx built with the keyring feature: cargo install --path crates/bfx-cli --features keyring".into())
}

#[cfg(feature = "keyring")]
pub const KEYRING_SERVICE: &str = "bfx";

/// Stores an account's secret in the OS keyring (`bfx config keyring-set`).
#[cfg(feature = "keyring")]
pub fn store_keyring_secret(account: &str, secret: &SecretString) -> Result<(), ConfigError> {
    use secrecy::ExposeSecret;
    keyring::Entry::new(KEYRING_SERVICE, account)
        .and_then(|entry| entry.set_password(secret.expose_secret()))
        .map_err(|e| ConfigError::Invalid(format!("cannot store the secret in the OS keyring: {e}")))
}

pub fn read_secret_file(path: &Path) -> Result<SecretString, String> {
    if let Some(mode) = file_mode(path)
        && mode & 0o077 != 0
    {
        return Err(format!(
            "secret_file {} is readable by others (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret_file {}: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(format!("secret_file {} is empty", path.display()));
    }
    Ok(SecretString::from(secret.to_owned()))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The accounts, or the first error, a secret that cannot be read included.
    fn parse(text: &str, env_pairs: &[(&str, &str)], mode: u32) -> Result<Vec<Account>, String> {
        let (_, _, accounts, unreadable, _, _) =
            parse_file(text, Path::new("/home/u/.config/bfx/config.toml"), &env(env_pairs), Some(mode))
                .map_err(|e| e.to_string())?;
        match unreadable.first() {
            Some(u) => Err(u.error.clone()),
            None => Ok(accounts),
        }
    }

    #[test]
    fn accounts_from_env_and_inline() {
        let text = "[[account]]\nname = \"main\"\nkey = \"k1\"\nsecret_env = \"MAIN_SECRET\"\n\n[[account]]\nname = \"cold\"\nkey = \"k2\"\nsecret = \"s2\"\n";
        let accounts = parse(text, &[("MAIN_SECRET", "s1")], 0o600).unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].name, "main");
        assert_eq!(accounts[1].credentials.key(), "k2");
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let path = "/home/u/.config/bfx/config.toml";
        let e =
            parse("[[account]]\nname = \"a\"\nkey = \"k\"\nsecret_env = \"NOPE\"\n", &[], 0o600).unwrap_err();
        assert_eq!(
            e,
            format!("{path}: line 2: account \"a\": secret_env NOPE is not set in the environment")
        );

        let e = parse("[[account]]\nname = \"a\"\nkey = \"k\"\n", &[], 0o600).unwrap_err();
        assert!(
            e.ends_with(
                "line 2: account \"a\": no secret: set secret_env, secret_file, secret or secret_keyring"
            ),
            "{e}"
        );
        let both = "[[account]]\nname = \"a\"\nkey = \"k\"\nsecret = \"s\"\nsecret_env = \"X\"\n";
        let e = parse(both, &[("X", "x")], 0o600).unwrap_err();
        assert!(e.ends_with("give only one of secret_env, secret_file, secret, secret_keyring"), "{e}");

        let dup = "[[account]]\nname = \"a\"\nkey = \"k\"\nsecret = \"s\"\n[[account]]\nname = \"a\"\nkey = \"k2\"\nsecret = \"s\"\n";
        assert!(
            parse(dup, &[], 0o600).unwrap_err().ends_with("line 6: account \"a\": duplicate account name")
        );

        let e = parse("[[account]]\nname = \"a\"\nkey = \"k\"\nsecret = \"s\"\ncolour = 1\n", &[], 0o600)
            .unwrap_err();
        assert!(e.starts_with(&format!("{path}: line 5: unknown field `colour`")), "{e}");
    }

    #[cfg(not(feature = "keyring"))]
    #[test]
    fn keyring_without_the_feature_says_how_to_get_it() {
        let e =
            parse("[[account]]\nname = \"a\"\nkey = \"k\"\nsecret_keyring = true\n", &[], 0o644).unwrap_err();
        assert!(e.ends_with("secret_keyring needs a bfx built with the keyring feature: cargo install --path crates/bfx-cli --features keyring"), "{e}");
    }

    #[test]
    fn inline_secret_needs_a_private_file() {
        let text = "[[account]]\nname = \"a\"\nkey = \"k\"\nsecret = \"CANARY-s3cr3t\"\n";
        let e = parse(text, &[], 0o644).unwrap_err();
        assert!(e.contains("readable by others (mode 644); run: chmod 600"), "{e}");
        assert!(!e.contains("CANARY"));
        assert!(parse(text, &[], 0o600).is_ok());
    }

    #[test]
    fn syntax_errors_never_quote_the_line() {
        let text = "[[account]]\nname = \"a\"\nkey = \"k\"\nsecret = CANARY-unquoted\n";
        let e = parse(text, &[], 0o600).unwrap_err();
        assert!(e.contains("line 4"), "{e}");
        assert!(!e.contains("CANARY"), "{e}");
    }

    #[test]
    fn env_account_and_endpoint_layering() {
        let e = env(&[("BFX_API_KEY", "k"), ("BFX_API_SECRET", "s"), ("BFX_API_URL", "http://127.0.0.1:9/")]);
        let s = Settings::resolve(&Overrides::default(), &e, None).unwrap();
        assert_eq!(s.accounts[0].name, "default");
        assert_eq!(s.accounts[0].credentials.key(), "k");
        assert_eq!(s.endpoints.api_url, "http://127.0.0.1:9");
        assert_eq!(s.endpoints.public_url, "http://127.0.0.1:9");
        assert_eq!(s.endpoints.ws_url, "ws://127.0.0.1:9/ws/2");

        let flags = Overrides { api_url: Some("http://127.0.0.1:10".into()), ..Overrides::default() };
        let s = Settings::resolve(&flags, &e, None).unwrap();
        assert_eq!(s.endpoints.api_url, "http://127.0.0.1:10", "flags beat env");

        let s = Settings::resolve(&Overrides::default(), &HashMap::new(), None).unwrap();
        assert_eq!(s.endpoints, Endpoints::bitfinex());
        assert!(s.select(&[]).unwrap_err().to_string().starts_with("no accounts configured"));

        let half = env(&[("BFX_API_KEY", "k")]);
        let err = Settings::resolve(&Overrides::default(), &half, None).unwrap_err();
        assert_eq!(err.to_string(), "BFX_API_KEY is set but BFX_API_SECRET is not");
    }

    #[test]
    fn budgets_above_bitfinexs_are_only_for_an_emulator() {
        let dir = tempfile::tempdir().unwrap();
        let resolve = |text: &str, api_url: Option<&str>| {
            let path = dir.path().join("config.toml");
            std::fs::write(&path, text).unwrap();
            let flags =
                Overrides { config: Some(path), api_url: api_url.map(str::to_owned), ..Overrides::default() };
            Settings::resolve(&flags, &HashMap::new(), None).map(|s| s.network)
        };
        let raised =
            "[network]\nws_connections_per_15s = 1000\nrequests_per_minute = { \"auth/r/wallets\" = 6000 }\n";
        let network = resolve(raised, Some("http://127.0.0.1:9")).unwrap();
        assert_eq!(network.ws_connections, 1000);
        assert_eq!(network.limits.per_endpoint["auth/r/wallets"], 6000);
        assert_eq!(network.limits.per_endpoint["tickers"], 30, "the others stay Bitfinex's");
        let refused = resolve(raised, None).unwrap_err().to_string();
        assert!(refused.contains("above Bitfinex's own limit"), "{refused}");
        // Lower is always allowed.
        let lower = resolve("[network]\nws_connections_per_15s = 2\n", None).unwrap();
        assert_eq!(lower.ws_connections, 2);
        assert_eq!(resolve("", None).unwrap().ws_connections, 5);
        let unknown = resolve("[network]\nrequests_per_minute = { wallets = 9 }\n", Some("http://h:1"));
        assert!(unknown.unwrap_err().to_string().contains("unknown endpoint \"wallets\""));
        let zero = resolve("[network]\nws_connections_per_15s = 0\n", Some("http://h:1"));
        assert!(zero.unwrap_err().to_string().contains("at least 1"));
    }

    /// `[table]` or `key = value` (prose in comments is neither).
    fn is_toml_line(line: &str) -> bool {
        line.starts_with('[')
            || line
                .split_once(" = ")
                .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    }

    #[test]
    fn the_template_is_a_valid_config_and_its_example_too() {
        let (endpoints, network, accounts, _, store, _) =
            parse_file(TEMPLATE, Path::new("t.toml"), &HashMap::new(), Some(0o600)).unwrap();
        assert_eq!(network.request_timeout_secs, None);
        assert!(accounts.is_empty());
        assert!(endpoints.api_url.is_none());
        assert!(store.is_none());
        // Uncommenting the example (and its endpoints) gives a working two-account config.
        let uncommented: String = TEMPLATE
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|l| is_toml_line(l)).unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let env = env(&[("BFX_MAIN_SECRET", "a"), ("BFX_PAPER_SECRET", "b")]);
        let (endpoints, network, accounts, unreadable, store, serve_token_file) =
            parse_file(&uncommented, Path::new("t.toml"), &env, Some(0o600)).unwrap();
        assert!(unreadable.is_empty(), "{unreadable:?}");
        assert_eq!(accounts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["main", "paper"]);
        assert_eq!(endpoints.api_url.as_deref(), Some("https://api.bitfinex.com"));
        assert_eq!(network.request_timeout_secs, Some(15));
        assert!(matches!(store, Some(bfx_store::Location::Postgres(_))), "{store:?}");
        assert_eq!(serve_token_file.as_deref(), Some(Path::new("/etc/bfx/serve-token")));
    }

    #[test]
    fn the_store_url_env_wins_and_its_password_is_never_shown() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[store]\nurl = \"postgres://team:CANARY-pw@db.example:5432/bfx\"\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let flags = Overrides { config: Some(path.clone()), ..Overrides::default() };
            let e = Settings::resolve(&flags, &HashMap::new(), None).unwrap_err().to_string();
            assert!(e.contains("[store] url holds a password but the file is readable by others"), "{e}");
            assert!(!e.contains("CANARY"), "{e}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let flags = Overrides { config: Some(path), ..Overrides::default() };
        let s = Settings::resolve(&flags, &HashMap::new(), None).unwrap();
        let shown = s.describe();
        assert!(
            shown.contains("# history store: PostgreSQL team@db.example:5432/bfx ([store] url)"),
            "{shown}"
        );
        assert!(shown.contains("url = \"postgres://team:***@db.example:5432/bfx\""), "{shown}");
        assert!(!shown.contains("CANARY"), "{shown}");
        let e = env(&[("BFX_STORE_URL", "/tmp/h.sqlite")]);
        let s = Settings::resolve(&flags, &e, None).unwrap();
        assert!(s.describe().contains("# history store: SQLite /tmp/h.sqlite (BFX_STORE_URL)"));
        let bad = env(&[("BFX_STORE_URL", "mysql://u:CANARY@h/d")]);
        let e = Settings::resolve(&flags, &bad, None).unwrap_err().to_string();
        assert!(e.starts_with("store url: ") && !e.contains("CANARY"), "{e}");
        let s = Settings::resolve(&Overrides::default(), &HashMap::new(), None).unwrap();
        assert!(s.describe().contains("bfx/history.sqlite (default)"), "{}", s.describe());
    }

    #[test]
    fn describe_masks_secrets() {
        let e = env(&[("BFX_API_KEY", "k"), ("BFX_API_SECRET", "CANARY-d3sc")]);
        let text = Settings::resolve(&Overrides::default(), &e, None).unwrap().describe();
        assert!(text.contains("key = \"k\"\nsecret = \"********\"  # from BFX_API_SECRET"), "{text}");
        assert!(!text.contains("CANARY"));
    }

    #[test]
    fn select_by_name() {
        let e = env(&[("BFX_API_KEY", "k"), ("BFX_API_SECRET", "s")]);
        let s = Settings::resolve(&Overrides::default(), &e, None).unwrap();
        assert_eq!(s.select(&["default".into()]).unwrap().len(), 1);
        assert_eq!(
            s.select(&["default".into(), "default".into()]).unwrap().len(),
            1,
            "named twice, read once"
        );
        assert_eq!(
            s.select(&["main".into()]).unwrap_err().to_string(),
            "no account named \"main\" (configured: default)"
        );
    }
}
