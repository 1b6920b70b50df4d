//! The HTTP face of `bfx serve`: four GET routes over the live model, a bearer token checked in
//! constant time when one is set (every route but `/healthz`, which says nothing but "running"),
//! bodies refused, and at most [`MAX_IN_FLIGHT`] requests served at once (more get 503); the
//! connections themselves are capped by [`super::listener`].

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::Live;
use super::metrics::{self, Format};
use crate::report::portfolio_json;

/// Requests served at once; a scraper needs one, a few dashboards a handful.
const MAX_IN_FLIGHT: usize = 64;

#[derive(Debug, Clone)]
struct Guard {
    token: Option<Arc<SecretString>>,
    in_flight: Arc<Semaphore>,
}

pub fn router(live: Arc<Live>, token: Option<SecretString>) -> Router {
    let guard = Guard { token: token.map(Arc::new), in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)) };
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/v1/portfolio", get(portfolio))
        .route("/readyz", get(readyz))
        .with_state(live)
        .route_layer(middleware::from_fn_with_state(guard.clone(), authorise))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(middleware::from_fn_with_state(guard, bound))
}

/// At most [`MAX_IN_FLIGHT`] requests at once, none with a body (every route is a GET).
async fn bound(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if headers.get(header::CONTENT_LENGTH).is_some_and(|l| l != "0")
        || headers.contains_key(header::TRANSFER_ENCODING)
    {
        return (StatusCode::PAYLOAD_TOO_LARGE, "requests carry no body\n").into_response();
    }
    match guard.in_flight.try_acquire() {
        Ok(_permit) => next.run(request).await,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "too many requests in flight\n").into_response(),
    }
}

/// 401 without the bearer token (when one is set), before any data is read.
async fn authorise(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Some(token) = &guard.token else { return next.run(request).await };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    // Constant time in the token's content (its length may show: it is not the secret part).
    match bool::from(given.ct_eq(token.expose_secret().as_bytes())) {
        true => next.run(request).await,
        false => {
            let mut response = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

async fn metrics_handler(State(live): State<Arc<Live>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    match metrics::encode(&live, format) {
        // The model's pieces are shared with the cache (not copied); the length is known.
        Ok((model, per_scrape)) => {
            let length = model.iter().map(Bytes::len).sum::<usize>() + per_scrape.len();
            let chunks =
                model.into_iter().chain([Bytes::from(per_scrape)]).map(Ok::<_, std::convert::Infallible>);
            let headers = [
                (header::CONTENT_TYPE, HeaderValue::from_static(format.content_type())),
                (header::CONTENT_LENGTH, HeaderValue::from(length)),
            ];
            (headers, Body::from_stream(futures_util::stream::iter(chunks))).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the metrics\n").into_response(),
    }
}

async fn portfolio(State(live): State<Arc<Live>>) -> Response {
    let json = portfolio_json(live.model().valued());
    ([(header::CONTENT_TYPE, "application/json")], Body::from(json)).into_response()
}

/// 200 once there are prices and every account has had its first wallets and positions (so
/// `/v1/portfolio` is what `bfx balances --json` would say); 503 with the reasons, one a line.
async fn readyz(State(live): State<Arc<Live>>) -> Response {
    let reasons = live.model().unready(true);
    match reasons.is_empty() {
        true => (StatusCode::OK, "ready\n").into_response(),
        false => (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", reasons.join("\n"))).into_response(),
    }
}
