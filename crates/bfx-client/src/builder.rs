//! [`ClientBuilder`]: endpoints, timeouts, where nonces are kept, rate limits, retries, and the
//! observer told about long waits. Defaults suit the real Bitfinex: its budgets, nonces shared
//! with other bfx processes through files under the user's state directory, waits on a 429.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::limiter::{Observer, RateLimiter, RateLimits, WaitEvent};
use crate::nonce::NonceBook;
use crate::nonce_store::NonceStore;

/// Idle kept-alive REST connections per host.
const MAX_IDLE_CONNECTIONS: usize = 16;
use crate::retry::RetryPolicy;
use crate::stream::gate::ConnectionGate;

#[derive(Clone)]
pub struct ClientBuilder {
    endpoints: Endpoints,
    connect_timeout: Duration,
    request_timeout: Duration,
    nonces: NonceSource,
    rate_limits: RateLimits,
    wait_on_rate_limit: bool,
    on_wait: Option<Observer>,
    retry: RetryPolicy,
    ws_connections: (u32, Duration),
}

#[derive(Debug, Clone)]
enum NonceSource {
    /// [`NonceStore::default_dir`], or memory (with a warning) when there is no home directory.
    StateDir,
    Dir(PathBuf),
    Memory,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            endpoints: Endpoints::bitfinex(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            nonces: NonceSource::StateDir,
            rate_limits: RateLimits::bitfinex(),
            wait_on_rate_limit: true,
            on_wait: None,
            retry: RetryPolicy::default(),
            ws_connections: ConnectionGate::BITFINEX,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoints", &self.endpoints)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("nonces", &self.nonces)
            .field("rate_limits", &self.rate_limits)
            .field("wait_on_rate_limit", &self.wait_on_rate_limit)
            .field("on_wait", &self.on_wait)
            .field("retry", &self.retry)
            .field("ws_connections", &self.ws_connections)
            .finish()
    }
}

impl ClientBuilder {
    pub fn endpoints(mut self, endpoints: Endpoints) -> ClientBuilder {
        self.endpoints = endpoints;
        self
    }

    /// Time allowed to establish a connection (TCP and TLS).
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for a whole request, from sending to the last byte of the response.
    pub fn request_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.request_timeout = timeout;
        self
    }

    /// Keep nonce files in `dir` instead of the user's state directory (tests, sandboxes). Every
    /// program using a key must use the same directory for the file lock to protect it.
    pub fn nonce_dir(mut self, dir: impl Into<PathBuf>) -> ClientBuilder {
        self.nonces = NonceSource::Dir(dir.into());
        self
    }

    /// Keep nonces in memory only: no files, but also no protection against another process
    /// using the same key at the same time.
    pub fn in_memory_nonces(mut self) -> ClientBuilder {
        self.nonces = NonceSource::Memory;
        self
    }

    /// Client-side budgets per endpoint (default: Bitfinex's, per minute). Match them to the
    /// server's: exceeding the server's budget costs a block of up to a minute.
    pub fn rate_limits(mut self, limits: RateLimits) -> ClientBuilder {
        self.rate_limits = limits;
        self
    }

    /// On a 429, wait until the block ends (`Retry-After`, else 60 s) and try again (default: up
    /// to 3 times, blocks up to 120 s), or fail at once with [`Error::RateLimited`] (also, without
    /// sending, for requests to an endpoint still blocked by an earlier 429). The client's own
    /// budget waits (see [`ClientBuilder::rate_limits`]) happen in both modes.
    pub fn wait_on_rate_limit(mut self, wait: bool) -> ClientBuilder {
        self.wait_on_rate_limit = wait;
        self
    }

    /// Called when the client is about to wait: a rate-limit block (always), its own budget or a
    /// retry backoff (from one second up). Called on the request's task: keep it quick, and do
    /// not panic.
    pub fn on_wait(mut self, observer: Arc<dyn Fn(WaitEvent) + Send + Sync>) -> ClientBuilder {
        self.on_wait = Some(Observer(observer));
        self
    }

    /// Retries of transient failures (default: up to 4 attempts, 200 ms doubling to 5 s, 30 s).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> ClientBuilder {
        self.retry = policy;
        self
    }

    /// WebSocket connections the account streams of this client (and its clones) may open per
    /// window (default: Bitfinex's 5 per 15 s); further attempts wait.
    pub fn ws_connection_limit(mut self, connections: u32, window: Duration) -> ClientBuilder {
        self.ws_connections = (connections, window);
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        crate::install_crypto_provider();
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .tcp_nodelay(true)
            // Many accounts may read at once (1 000 connecting); a few kept-alive connections
            // serve what follows, the rest are closed instead of idling for 90 s.
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
            // A redirect would carry the API key and a valid signature to another URL (reqwest
            // drops only standard credentials headers on the way); Bitfinex never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bfx/", env!("CARGO_PKG_VERSION")));
        if self.endpoints.rest_is_plain_http() {
            // Loading the system's CA certificates is ~80 % of a one-shot `bfx balances`
            // (BENCHMARKS.md); plain http has nothing to verify. With no roots at all, an https
            // URL reached anyway (a redirect) fails verification: closed, not open.
            http = http.tls_certs_only([]);
        }
        let http = http.build().map_err(Error::Build)?;
        let nonces = match self.nonces {
            NonceSource::Dir(dir) => NonceBook::with_store(NonceStore::new(dir)),
            NonceSource::Memory => NonceBook::in_memory(),
            NonceSource::StateDir => match NonceStore::default_dir() {
                Some(dir) => NonceBook::with_store(NonceStore::new(dir)),
                None => {
                    tracing::warn!(
                        "no home directory: nonces are kept in memory only, so another program using the same API key at the same time can cause \"nonce: small\" errors"
                    );
                    NonceBook::in_memory()
                }
            },
        };
        Ok(Client {
            http,
            endpoints: Arc::new(self.endpoints),
            nonces: Arc::new(nonces),
            limiter: Arc::new(RateLimiter::new(self.rate_limits)),
            retry: self.retry,
            wait_on_rate_limit: self.wait_on_rate_limit,
            on_wait: self.on_wait,
            request_timeout: self.request_timeout,
            ws_gate: Arc::new(ConnectionGate::new(self.ws_connections.0, self.ws_connections.1)),
            requests: Arc::default(),
        })
    }
}
