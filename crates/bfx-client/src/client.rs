//! The REST client: signed `POST /v2/auth/…` requests and public `GET /v2/…` requests.
//!
//! Each attempt waits for the endpoint's rate limit, holds the key's slot (see [`crate::nonce`])
//! from choosing a fresh nonce until the response has arrived, and sends exactly the signed bytes.
//! Non-success responses become a typed [`Error`] in one place, `error_from_response`; `execute`
//! decides what happens next: wait out a 429, re-sign a `nonce: small` once, or retry.

use std::sync::Arc;
use std::time::Duration;

use bfx_core::sign::sign;
use bfx_core::wire_error::{ErrorBody, parse_error_body};
use bfx_core::{LedgerEntry, ParseError, Permission, Position, Ticker, UserInfo, WalletRow};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use tokio::time::Instant;

use crate::builder::ClientBuilder;
use crate::credentials::Credentials;
use crate::endpoints::Endpoints;
use crate::error::{Error, ErrorKind};
use crate::limiter::{LONGEST_BLOCK_WAIT, Observer, REPORT_WAITS_FROM, RateLimiter, WaitReason};
use crate::nonce::NonceBook;
use crate::retry::{RetryDecision, RetryPolicy, jitter, retry_decision};
use crate::stream::gate::ConnectionGate;

/// How long an endpoint is blocked after a 429 without `Retry-After` (the spec: "else 60 s").
const DEFAULT_BLOCK: Duration = Duration::from_secs(60);
/// 429s waited out per request before giving up with [`Error::RateLimited`].
const MAX_BLOCK_WAITS: u32 = 3;

/// The most of a response body the client reads, per endpoint: generous for anything Bitfinex
/// sends (all tickers are ~0.5 MiB, the conf maps ~0.1 MiB, a wallet list of thousands of rows a
/// few hundred KiB), small enough that an endless or huge body cannot exhaust memory. The one
/// place that decides.
pub(crate) fn body_limit(endpoint: &str) -> usize {
    const MIB: usize = 1 << 20;
    match endpoint {
        "tickers" => 16 * MIB,
        "conf" => 4 * MIB,
        "auth/r/wallets" | "auth/r/positions" => 2 * MIB,
        // 2 500 rows of ~200 bytes.
        LEDGERS => 4 * MIB,
        // 10 000 daily rows of ~100 bytes: ~1 MiB.
        crate::candles::CANDLES => 4 * MIB,
        _ => MIB,
    }
}

/// Which tickers to ask for.
#[derive(Debug, Clone, Copy)]
pub enum Symbols<'a> {
    All,
    Only(&'a [String]),
}

/// A Bitfinex client. Cheap to clone; clones share the connection pool, the nonce slots and the
/// rate limits (Bitfinex budgets per IP, so a process serving many accounts should build one
/// client and clone it).
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) endpoints: Arc<Endpoints>,
    pub(crate) nonces: Arc<NonceBook>,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) retry: RetryPolicy,
    pub(crate) wait_on_rate_limit: bool,
    pub(crate) on_wait: Option<Observer>,
    pub(crate) request_timeout: Duration,
    /// WebSocket connections opened per window, shared by every stream of every clone.
    pub(crate) ws_gate: Arc<ConnectionGate>,
    /// Requests sent, by endpoint and outcome, shared by every clone.
    pub(crate) requests: Arc<crate::counters::RequestCounters>,
}

/// One request, as each attempt rebuilds it. `path` is what is signed (`v2/…`).
pub(crate) enum Call<'a> {
    Public { url: String },
    Auth { url: String, path: String, body: Vec<u8>, credentials: &'a Credentials },
}

/// The rate-limit bucket and error name of both ledger paths (`auth/r/ledgers/hist` and
/// `auth/r/ledgers/{CURRENCY}/hist`): one budget of 90 a minute for the two, the stricter reading.
const LEDGERS: &str = "auth/r/ledgers/hist";

/// One page of `auth/r/ledgers/hist` (or `auth/r/ledgers/{CURRENCY}/hist` with a currency). All
/// bounds are Bitfinex's: `start` and `end` in milliseconds, both inclusive; newest entries first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerQuery {
    /// Only this currency (`BTC`, `UST`; no prefix), through the per-currency path.
    #[serde(skip)]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// At most [`LedgerQuery::MAX_LIMIT`]; always sent (the server's default is undocumented).
    pub limit: u32,
    /// Only entries of this category code (see `bfx_core::ledger::Category`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<u16>,
    /// Only entries of this wallet (`exchange`, `margin`, `funding`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
}

impl LedgerQuery {
    /// The most entries one request may ask for (beyond: `10020 limit: invalid`).
    pub const MAX_LIMIT: u32 = 2500;

    /// The newest [`LedgerQuery::MAX_LIMIT`] entries at or before `end` (all of them when `None`).
    pub fn page(end: Option<i64>) -> LedgerQuery {
        LedgerQuery {
            currency: None,
            start: None,
            end,
            limit: LedgerQuery::MAX_LIMIT,
            category: None,
            wallet: None,
        }
    }

    fn path(&self) -> Result<String, Error> {
        let Some(currency) = &self.currency else {
            return Ok(LEDGERS.to_owned());
        };
        // It becomes part of the URL and of what is signed: letters and digits only.
        if currency.is_empty() || currency.len() > 16 || !currency.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::Query {
                endpoint: LEDGERS,
                reason: format!("currency {currency:?} is not letters and digits (BTC, UST)"),
            });
        }
        Ok(format!("auth/r/ledgers/{currency}/hist"))
    }
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Where nonce files are kept (`None`: in memory only).
    pub fn nonce_dir(&self) -> Option<&std::path::Path> {
        self.nonces.store().map(|store| store.dir())
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Every wallet of the key's account (`auth/r/wallets`; needs `wallets` read).
    pub async fn wallets(&self, credentials: &Credentials) -> Result<Vec<WalletRow>, Error> {
        const ENDPOINT: &str = "auth/r/wallets";
        let body = self.auth_post(ENDPOINT, credentials).await?;
        bfx_core::parse_wallets(&body).map_err(parse_error(ENDPOINT))
    }

    /// The open positions of the key's account (`auth/r/positions`; needs `positions` read).
    pub async fn positions(&self, credentials: &Credentials) -> Result<Vec<Position>, Error> {
        const ENDPOINT: &str = "auth/r/positions";
        let body = self.auth_post(ENDPOINT, credentials).await?;
        bfx_core::parse_positions(&body).map_err(parse_error(ENDPOINT))
    }

    /// One page of the account's ledger (needs `history` read): at most `query.limit` entries,
    /// newest first. Paging through a whole ledger is `bfx_core::ledger::Pager`'s job.
    pub async fn ledgers(
        &self,
        credentials: &Credentials,
        query: &LedgerQuery,
    ) -> Result<Vec<LedgerEntry>, Error> {
        if query.limit == 0 || query.limit > LedgerQuery::MAX_LIMIT {
            return Err(Error::Query {
                endpoint: LEDGERS,
                reason: format!("limit {} is outside 1..={}", query.limit, LedgerQuery::MAX_LIMIT),
            });
        }
        let path = query.path()?;
        let body = serde_json::to_vec(query)
            .map_err(|e| Error::Query { endpoint: LEDGERS, reason: e.to_string() })?;
        let url = format!("{}/v2/{path}", self.endpoints.api_url);
        let body = self.execute(LEDGERS, Call::Auth { url, path, body, credentials }).await?;
        bfx_core::parse_ledgers(&body).map_err(parse_error(LEDGERS))
    }

    /// The key's permissions (`auth/r/permissions`; any valid key).
    pub async fn permissions(&self, credentials: &Credentials) -> Result<Vec<Permission>, Error> {
        const ENDPOINT: &str = "auth/r/permissions";
        let body = self.auth_post(ENDPOINT, credentials).await?;
        bfx_core::parse_permissions(&body).map_err(parse_error(ENDPOINT))
    }

    /// The account behind the key (`auth/r/info/user`; needs `account` read).
    pub async fn user_info(&self, credentials: &Credentials) -> Result<UserInfo, Error> {
        const ENDPOINT: &str = "auth/r/info/user";
        let body = self.auth_post(ENDPOINT, credentials).await?;
        bfx_core::parse_user_info(&body).map_err(parse_error(ENDPOINT))
    }

    /// Public tickers (`tickers?symbols=…`), trading and funding.
    pub async fn tickers(&self, symbols: Symbols<'_>) -> Result<Vec<Ticker>, Error> {
        const ENDPOINT: &str = "tickers";
        let list = match symbols {
            Symbols::All => "ALL".to_owned(),
            Symbols::Only(list) => list.join(","),
        };
        let url = format!("{}/v2/tickers?symbols={list}", self.endpoints.public_url);
        let body = self.execute(ENDPOINT, Call::Public { url }).await?;
        bfx_core::parse_tickers(&body).map_err(parse_error(ENDPOINT))
    }

    /// String maps from `conf/KEY1,KEY2,…` (e.g. `pub:map:currency:sym`), one per key, in order.
    pub async fn conf_maps(&self, keys: &[&str]) -> Result<Vec<Vec<(String, String)>>, Error> {
        const ENDPOINT: &str = "conf";
        let url = format!("{}/v2/conf/{}", self.endpoints.public_url, keys.join(","));
        let body = self.execute(ENDPOINT, Call::Public { url }).await?;
        bfx_core::conf::parse_conf_maps(&body, keys.len()).map_err(parse_error(ENDPOINT))
    }

    /// `platform/status`: `true` when operative, `false` in maintenance.
    pub async fn platform_status(&self) -> Result<bool, Error> {
        const ENDPOINT: &str = "platform/status";
        let url = format!("{}/v2/platform/status", self.endpoints.public_url);
        let body = self.execute(ENDPOINT, Call::Public { url }).await?;
        match body.as_slice().trim_ascii() {
            b"[1]" => Ok(true),
            b"[0]" => Ok(false),
            other => Err(Error::Parse {
                endpoint: ENDPOINT,
                source: ParseError {
                    what: "platform status",
                    row: None,
                    field: None,
                    reason: format!("expected [1] or [0], found {}", bfx_core::wire_error::snippet(other)),
                },
            }),
        }
    }

    /// A signed `POST /v2/{endpoint}` with body `{}`.
    async fn auth_post(&self, endpoint: &'static str, credentials: &Credentials) -> Result<Vec<u8>, Error> {
        let url = format!("{}/v2/{endpoint}", self.endpoints.api_url);
        let (path, body) = (endpoint.to_owned(), b"{}".to_vec());
        self.execute(endpoint, Call::Auth { url, path, body, credentials }).await
    }

    /// Attempts `call` until it succeeds or may not be tried again.
    pub(crate) async fn execute(&self, endpoint: &'static str, call: Call<'_>) -> Result<Vec<u8>, Error> {
        let mut spent = Duration::ZERO;
        let (mut failed, mut blocks, mut resigned) = (0u32, 0u32, false);
        loop {
            let mut sent = None;
            let result = self.attempt(endpoint, &call, &mut sent).await;
            spent += sent.map_or(Duration::ZERO, |at: Instant| at.elapsed());
            let error = match result {
                Ok(body) => return Ok(body),
                Err(error) => error,
            };
            match &error {
                // In no-wait mode, `attempt` fails fast on a known block without sending.
                Error::RateLimited { .. } if sent.is_none() => return Err(error),
                Error::RateLimited { retry_after, retry_after_sent, .. } => {
                    let block = retry_after.unwrap_or(DEFAULT_BLOCK);
                    self.limiter.block(endpoint, block);
                    // A `Retry-After` beyond any documented block means something else is going
                    // on: the endpoint stays blocked for the longest documented block, and the
                    // caller hears of it rather than waiting.
                    if !self.wait_on_rate_limit || blocks >= MAX_BLOCK_WAITS || retry_after_sent.is_some() {
                        return Err(error);
                    }
                    blocks += 1;
                    tracing::info!(
                        endpoint,
                        ?retry_after,
                        "rate limited by Bitfinex; waiting for the block to end"
                    );
                    continue;
                }
                // Another program may have used the key: one more try with a fresh nonce.
                Error::Api { .. } if error.kind() == ErrorKind::Nonce && !resigned => {
                    resigned = true;
                    tracing::warn!(endpoint, "nonce: small; signing again with a fresh nonce");
                    continue;
                }
                _ => {}
            }
            failed += 1;
            let RetryDecision::Retry { after } = retry_decision(&error, failed, &self.retry, jitter()) else {
                return Err(error);
            };
            if spent + after > self.retry.deadline {
                return Err(error);
            }
            let until = Instant::now() + after;
            if let Some(observer) = &self.on_wait
                && after >= REPORT_WAITS_FROM
            {
                observer.report(endpoint, until, WaitReason::Retry { attempt: failed, kind: error.kind() });
            }
            tracing::info!(endpoint, attempt = failed, wait_ms = after.as_millis(), %error, "retrying");
            tokio::time::sleep_until(until).await;
            spent += after;
        }
    }

    /// One attempt. `sent` is set when the request goes out, after the rate limiter and the key's
    /// slot, so that their waits count neither as a real 429 nor against the retry deadline.
    async fn attempt(
        &self,
        endpoint: &'static str,
        call: &Call<'_>,
        sent: &mut Option<Instant>,
    ) -> Result<Vec<u8>, Error> {
        let (wait, observer) = (self.wait_on_rate_limit, self.on_wait.as_ref());
        let blocked = |remaining: Duration| Error::RateLimited {
            endpoint,
            status: 429,
            message: "still blocked after an earlier HTTP 429 (not sent)".to_owned(),
            retry_after: Some(remaining),
            retry_after_sent: None,
        };
        // Wait for the limiter before taking the key, so a long wait does not hold up the key's
        // requests to other endpoints (here and in other processes).
        self.limiter.ready(endpoint, wait, observer).await.map_err(blocked)?;
        match call {
            Call::Public { url } => {
                let _ticket = self.limiter.admit(endpoint, wait, observer).await.map_err(blocked)?;
                *sent = Some(Instant::now());
                let result = self.send(endpoint, self.http.get(url), url).await;
                self.requests.record(endpoint, &result);
                result
            }
            Call::Auth { url, path, body, credentials } => {
                // A lock held by another process counts against the request's time, not forever.
                let mut slot = self.nonces.acquire_within(credentials.key(), self.request_timeout).await?;
                let _ticket = self.limiter.admit(endpoint, wait, observer).await.map_err(blocked)?;
                let nonce = slot.allocate().await?;
                *sent = Some(Instant::now());
                let request = self.signed(url, path, body, credentials, nonce);
                let result = self.send(endpoint, request, url).await;
                self.requests.record(endpoint, &result);
                // The ticket (the request is logged finished), then the slot, drop after this.
                result
            }
        }
    }

    fn signed(
        &self,
        url: &str,
        path: &str,
        body: &[u8],
        credentials: &Credentials,
        nonce: bfx_core::Nonce,
    ) -> reqwest::RequestBuilder {
        let signature = sign(credentials.secret_bytes(), &format!("v2/{path}"), nonce, body);
        tracing::debug!(path, key = credentials.key(), %nonce, "signed request");
        self.http
            .post(url)
            .header("bfx-nonce", nonce.to_string())
            .header("bfx-apikey", credentials.key())
            .header("bfx-signature", signature)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
    }

    /// Sends a request and reads the whole body; any non-success becomes an [`Error`].
    async fn send(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<Vec<u8>, Error> {
        let transport = |source: reqwest::Error| {
            if source.is_timeout() {
                Error::Timeout { endpoint, timeout: self.request_timeout }
            } else if source.is_connect() {
                Error::Connect { endpoint, url: url.to_owned(), source }
            } else {
                Error::Transport { endpoint, source }
            }
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let limit = body_limit(endpoint);
        let too_large = || Error::BodyTooLarge { endpoint, limit };
        let declared = response.content_length();
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        // Read chunk by chunk, so an endless (chunked) body stops at the limit.
        let mut body =
            Vec::with_capacity(declared.and_then(|n| usize::try_from(n).ok()).unwrap_or(0).min(64 * 1024));
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                tracing::warn!(endpoint, limit, "response body over the limit; not read further");
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(endpoint, status = status.as_u16(), bytes = body.len(), "response");
        if status == StatusCode::OK {
            Ok(body)
        } else {
            Err(error_from_response(endpoint, status, &headers, &body))
        }
    }
}

/// The one place a non-success response becomes an [`Error`].
fn error_from_response(
    endpoint: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    if status.is_redirection() {
        let location = headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("nowhere given");
        return Error::Redirect { endpoint, status: status.as_u16(), location: location.to_owned() };
    }
    let status = status.as_u16();
    match parse_error_body(status, body) {
        ErrorBody::Exchange { code, message } => Error::Api { endpoint, status, code, message },
        ErrorBody::RateLimit { message, .. } => {
            let (retry_after, retry_after_sent) = match retry_after_secs(headers) {
                Some(sent) if sent > LONGEST_BLOCK_WAIT.as_secs() => {
                    tracing::warn!(
                        endpoint,
                        retry_after_sent = sent,
                        clamped_secs = LONGEST_BLOCK_WAIT.as_secs(),
                        "Retry-After beyond any documented block (10–60 s, 63 s observed); clamped"
                    );
                    (Some(LONGEST_BLOCK_WAIT), Some(sent))
                }
                sent => (sent.map(Duration::from_secs), None),
            };
            Error::RateLimited { endpoint, status, message, retry_after, retry_after_sent }
        }
        ErrorBody::Unrecognized { snippet } => Error::Http { endpoint, status, snippet },
    }
}

/// `Retry-After` in seconds, as sent (the HTTP-date form is not used by Bitfinex).
fn retry_after_secs(headers: &HeaderMap) -> Option<u64> {
    headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

pub(crate) fn parse_error(endpoint: &'static str) -> impl Fn(ParseError) -> Error {
    move |source| Error::Parse { endpoint, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn responses_map_to_typed_errors() {
        let none = HeaderMap::new();
        let e = error_from_response(
            "auth/r/wallets",
            StatusCode::INTERNAL_SERVER_ERROR,
            &none,
            br#"["error",10100,"apikey: digest invalid"]"#,
        );
        assert!(
            matches!(e, Error::Api { code: 10100, status: 500, ref message, .. } if message == "apikey: digest invalid")
        );

        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("63"));
        let e = error_from_response(
            "auth/r/wallets",
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            br#"{ "error": "ERR_RATE_LIMIT"}"#,
        );
        assert!(
            matches!(e, Error::RateLimited { retry_after: Some(d), status: 429, .. } if d == Duration::from_secs(63))
        );

        let e = error_from_response(
            "tickers",
            StatusCode::BAD_GATEWAY,
            &none,
            b"<html><body>502 Bad Gateway</body></html>",
        );
        assert_eq!(
            e.to_string(),
            "tickers: unexpected HTTP 502 response: <html><body>502 Bad Gateway</body></html>"
        );
        assert_eq!(e.kind(), crate::ErrorKind::Unavailable);
    }
}
