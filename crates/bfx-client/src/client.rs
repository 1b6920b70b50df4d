//! The REST client: signed `POST /v2/auth/…` requests and public `GET /v2/…` requests.
//!
//! Each authenticated request is signed over the exact bytes sent (`{}`), with a fresh nonce from
//! the key's slot, which is held until the response has arrived (see [`crate::nonce`]). Every
//! non-success response becomes a typed [`Error`] through one function, `error_from_response`.

use std::sync::Arc;
use std::time::Duration;

use bfx_core::sign::sign;
use bfx_core::wire_error::{ErrorBody, parse_error_body};
use bfx_core::{ParseError, Permission, Ticker, UserInfo, WalletRow};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use crate::credentials::Credentials;
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::nonce::NonceBook;

/// Which tickers to ask for.
#[derive(Debug, Clone, Copy)]
pub enum Symbols<'a> {
    All,
    Only(&'a [String]),
}

#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoints: Endpoints,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            endpoints: Endpoints::bitfinex(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
        }
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

    pub fn build(self) -> Result<Client, Error> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("bfx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::Build)?;
        Ok(Client {
            http,
            endpoints: Arc::new(self.endpoints),
            nonces: Arc::new(NonceBook::default()),
            request_timeout: self.request_timeout,
        })
    }
}

/// A Bitfinex client. Cheap to clone; clones share the connection pool and the nonce slots.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoints: Arc<Endpoints>,
    nonces: Arc<NonceBook>,
    request_timeout: Duration,
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
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
        let body = self.send(ENDPOINT, self.http.get(&url), &url).await?;
        bfx_core::parse_tickers(&body).map_err(parse_error(ENDPOINT))
    }

    /// String maps from `conf/KEY1,KEY2,…` (e.g. `pub:map:currency:sym`), one per key, in order.
    pub async fn conf_maps(&self, keys: &[&str]) -> Result<Vec<Vec<(String, String)>>, Error> {
        const ENDPOINT: &str = "conf";
        let url = format!("{}/v2/conf/{}", self.endpoints.public_url, keys.join(","));
        let body = self.send(ENDPOINT, self.http.get(&url), &url).await?;
        bfx_core::conf::parse_conf_maps(&body, keys.len()).map_err(parse_error(ENDPOINT))
    }

    /// `platform/status`: `true` when operative, `false` in maintenance.
    pub async fn platform_status(&self) -> Result<bool, Error> {
        const ENDPOINT: &str = "platform/status";
        let url = format!("{}/v2/platform/status", self.endpoints.public_url);
        let body = self.send(ENDPOINT, self.http.get(&url), &url).await?;
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
        const BODY: &[u8] = b"{}";
        let url = format!("{}/v2/{endpoint}", self.endpoints.api_url);
        let mut slot = self.nonces.acquire(credentials.key()).await;
        let nonce = slot.allocate()?;
        let signature = sign(credentials.secret_bytes(), &format!("v2/{endpoint}"), nonce, BODY);
        tracing::debug!(endpoint, key = credentials.key(), %nonce, "signed request");
        let request = self
            .http
            .post(&url)
            .header("bfx-nonce", nonce.to_string())
            .header("bfx-apikey", credentials.key())
            .header("bfx-signature", signature)
            .header(CONTENT_TYPE, "application/json")
            .body(BODY);
        let result = self.send(endpoint, request, &url).await;
        drop(slot);
        result
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
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?.to_vec();
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
    let status = status.as_u16();
    match parse_error_body(status, body) {
        ErrorBody::Exchange { code, message } => Error::Api { endpoint, status, code, message },
        ErrorBody::RateLimit { message, .. } => {
            Error::RateLimited { endpoint, status, message, retry_after: retry_after(headers) }
        }
        ErrorBody::Unrecognized { snippet } => Error::Http { endpoint, status, snippet },
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Bitfinex).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

fn parse_error(endpoint: &'static str) -> impl Fn(ParseError) -> Error {
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
