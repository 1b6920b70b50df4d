//! The WebSocket `auth` event, verified like a REST request: known key, `authSig` over
//! `authPayload` as received, the payload led by `"AUTH" + authNonce`, and the REST nonce rules
//! on the same per-key counter. Unknown fields (Node sends `apiSecret`) are ignored; nothing
//! of the frame is ever logged.

use std::str::FromStr;

use bfx_core::Nonce;
use bfx_core::sign::verify_payload;
use bfx_core::wire_error::codes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::frames;
use crate::shared::{Runtime, Shared, accept_nonce};

/// A verified `auth`: what the session keeps, and the frames to send in order.
#[derive(Debug)]
pub(crate) struct Authorized {
    pub(crate) account: String,
    /// The key has `wallets` read: the session receives `ws`, `wu` and `bu`.
    pub(crate) wallets: bool,
    /// The `auth` OK reply, then the `ws` snapshot when `wallets`.
    pub(crate) frames: Vec<String>,
    /// The hub's sequence number when the snapshot was taken: later events only are forwarded.
    pub(crate) seq: u64,
    /// The account's wallet changes from then on.
    pub(crate) events: tokio::sync::broadcast::Receiver<super::hub::WsEvent>,
}

/// Why an `auth` failed: the `code` and `msg` of the FAILED reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: i64,
    pub(crate) msg: &'static str,
}

/// Bad key or bad signature: on the WebSocket both read "apikey: invalid" (spec).
const INVALID_KEY: Refusal = Refusal { code: codes::AUTH, msg: "apikey: invalid" };
/// Bitfinex has no documented wording for a payload that does not carry the nonce.
const INVALID_PAYLOAD: Refusal = Refusal { code: codes::AUTH, msg: "authPayload: invalid" };
/// The REST wording for every nonce failure (see `reply::Rejection::BadNonce`); the Node client
/// looks for "nonce" in the message.
const BAD_NONCE: Refusal = Refusal { code: codes::NONCE, msg: "nonce: small" };
/// A second `auth` on one connection.
pub(crate) const DUPLICATE: Refusal = Refusal { code: codes::AUTH, msg: "auth: dup" };

/// The fields read; every other one is ignored.
#[derive(Deserialize)]
struct AuthFrame {
    #[serde(rename = "apiKey")]
    api_key: String,
    #[serde(rename = "authSig")]
    auth_sig: String,
    #[serde(rename = "authNonce")]
    auth_nonce: Box<RawValue>,
    #[serde(rename = "authPayload")]
    auth_payload: String,
}

/// Verifies an `auth` frame (`text`, as received) and consumes its nonce. The signature is
/// checked outside the runtime lock; the nonce is checked and recorded under it, atomically with
/// the snapshot.
pub(crate) fn authenticate(shared: &Shared, text: &str) -> Result<Authorized, Refusal> {
    let frame: AuthFrame = serde_json::from_str(text).map_err(|_| INVALID_KEY)?;
    let secret = {
        let runtime = shared.lock();
        runtime.state.find_key(&frame.api_key).map(|(_, key)| key.secret.clone()).ok_or(INVALID_KEY)?
    };
    if !verify_payload(secret.as_bytes(), frame.auth_payload.as_bytes(), &frame.auth_sig) {
        return Err(INVALID_KEY);
    }
    let nonce_text = nonce_text(&frame.auth_nonce).ok_or(BAD_NONCE)?;
    // Node signs "AUTH" + nonce + nonce, the others "AUTH" + nonce: the prefix is what they share.
    let carries_nonce =
        frame.auth_payload.strip_prefix("AUTH").is_some_and(|rest| rest.starts_with(nonce_text.as_str()));
    if !carries_nonce {
        return Err(INVALID_PAYLOAD);
    }
    let nonce = Nonce::from_str(&nonce_text).map_err(|_| BAD_NONCE)?;
    let mut runtime = shared.lock();
    let seq = shared.ws().seq();
    let Runtime { state, nonces, .. } = &mut *runtime;
    let (account, key) = state.find_key(&frame.api_key).ok_or(INVALID_KEY)?;
    if !accept_nonce(nonces, &key.key, nonce) {
        return Err(BAD_NONCE);
    }
    let wallets = key.access("wallets").read;
    let mut frames = vec![frames::auth_ok(account.user_id, &frames::uuid_like(), key)];
    if wallets {
        frames.push(frames::wallet_snapshot(&account.wallets));
    }
    let events = shared.ws().subscribe_account(&account.name);
    Ok(Authorized { account: account.name.clone(), wallets, frames, seq, events })
}

/// `authNonce` as text: a JSON string's content, or a bare JSON number's text (Python and Node
/// send numbers, Go a string).
fn nonce_text(raw: &RawValue) -> Option<String> {
    match raw.get() {
        quoted if quoted.starts_with('"') => serde_json::from_str(quoted).ok(),
        bare if bare.bytes().all(|b| b.is_ascii_digit()) => Some(bare.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn nonces_as_strings_or_numbers() {
        assert_eq!(nonce_text(&raw("1700000000000000")).as_deref(), Some("1700000000000000"));
        assert_eq!(nonce_text(&raw(r#""1700000000000000""#)).as_deref(), Some("1700000000000000"));
        assert_eq!(nonce_text(&raw("1.7e15")), None);
        assert_eq!(nonce_text(&raw("-1")), None);
        assert_eq!(nonce_text(&raw("null")), None);
        // A string is taken as is; Nonce::from_str then refuses anything but digits.
        assert_eq!(nonce_text(&raw(r#""12a""#)).as_deref(), Some("12a"));
    }
}
