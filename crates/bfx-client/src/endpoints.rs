//! The base URLs bfx talks to. All three are configurable; when only the REST URL is given (as
//! with `BFX_API_URL` pointed at `bfx sim`), the public and WebSocket URLs are derived from it.

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Authenticated REST, e.g. `https://api.bitfinex.com` (requests go to `{api_url}/v2/…`).
    pub api_url: String,
    /// Public REST, e.g. `https://api-pub.bitfinex.com`.
    pub public_url: String,
    /// WebSocket, e.g. `wss://api.bitfinex.com/ws/2`.
    pub ws_url: String,
}

impl Endpoints {
    pub const BITFINEX_API: &'static str = "https://api.bitfinex.com";
    pub const BITFINEX_PUBLIC: &'static str = "https://api-pub.bitfinex.com";
    pub const BITFINEX_WS: &'static str = "wss://api.bitfinex.com/ws/2";

    /// The real Bitfinex hosts.
    pub fn bitfinex() -> Endpoints {
        Endpoints {
            api_url: Endpoints::BITFINEX_API.to_owned(),
            public_url: Endpoints::BITFINEX_PUBLIC.to_owned(),
            ws_url: Endpoints::BITFINEX_WS.to_owned(),
        }
    }

    /// Everything served from one base URL (an emulator): `http://h:p` → public `http://h:p`,
    /// WebSocket `ws://h:p/ws/2`.
    pub fn single(api_url: &str) -> Result<Endpoints, Error> {
        let api_url = base_url(api_url)?;
        let ws_url = match api_url.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}/ws/2"),
            Some((_, rest)) => format!("ws://{rest}/ws/2"),
            None => return Err(Error::Url { url: api_url, reason: "missing scheme".into() }),
        };
        Ok(Endpoints { public_url: api_url.clone(), ws_url, api_url })
    }

    /// Both REST URLs are plain `http://` (a local emulator): no certificate is ever verified.
    pub fn rest_is_plain_http(&self) -> bool {
        let plain = |url: &str| url.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
        plain(&self.api_url) && plain(&self.public_url)
    }
}

/// Validates a REST base URL and strips trailing slashes and a trailing `/v2` (users paste
/// either form).
pub fn base_url(url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v2").unwrap_or(trimmed);
    let invalid = |reason: &str| Error::Url { url: url.to_owned(), reason: reason.to_owned() };
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(invalid("expected http://HOST[:PORT] or https://HOST"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(invalid("the scheme must be http or https"));
    }
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(invalid("expected http://HOST[:PORT] or https://HOST"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_url_derives_public_and_ws() {
        let e = Endpoints::single("http://127.0.0.1:8787/").unwrap();
        assert_eq!(e.api_url, "http://127.0.0.1:8787");
        assert_eq!(e.public_url, "http://127.0.0.1:8787");
        assert_eq!(e.ws_url, "ws://127.0.0.1:8787/ws/2");
        let e = Endpoints::single("https://sim.example/v2").unwrap();
        assert_eq!(e.api_url, "https://sim.example");
        assert_eq!(e.ws_url, "wss://sim.example/ws/2");
    }

    #[test]
    fn plain_http_only_when_both_rest_urls_are() {
        assert!(Endpoints::single("http://127.0.0.1:8787").unwrap().rest_is_plain_http());
        assert!(!Endpoints::single("https://sim.example").unwrap().rest_is_plain_http());
        assert!(!Endpoints::bitfinex().rest_is_plain_http());
        let mixed = Endpoints {
            public_url: Endpoints::BITFINEX_PUBLIC.into(),
            ..Endpoints::single("http://h").unwrap()
        };
        assert!(!mixed.rest_is_plain_http());
        let upper =
            Endpoints { api_url: "HTTP://h".into(), public_url: "http://h".into(), ws_url: String::new() };
        assert!(upper.rest_is_plain_http());
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in ["127.0.0.1:8787", "ftp://x", "http://", "http://h?x=1", ""] {
            assert!(matches!(Endpoints::single(bad), Err(Error::Url { .. })), "{bad:?}");
        }
    }
}
