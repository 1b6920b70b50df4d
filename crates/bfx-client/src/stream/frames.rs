//! WebSocket v2 frames of the account and ticker streams: the `auth` and `subscribe` frames we
//! send, and what we make of every frame we receive. Parsing is lenient about what we do not use
//! (unknown events and message types are [`Inbound::Ignored`]) and exact about money (amounts from
//! the number text).

use bfx_core::sign::sign_payload;
use bfx_core::wallet::parse_wallet_row;
use bfx_core::{Nonce, WalletRow, parse_json_number};
use rust_decimal::Decimal;
use serde_json::Value;
use serde_json::value::RawValue;

pub(crate) use crate::error::INFO_RESTART;
/// `20060`: maintenance starts; keep the connection and wait for `20061`.
pub(crate) const INFO_MAINTENANCE_START: i64 = 20060;
/// `20061`: maintenance is over.
pub(crate) const INFO_MAINTENANCE_END: i64 = 20061;

/// One received frame, as far as the account stream cares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inbound {
    /// `{"event":"info",…}`: the greeting (no code) or an info code.
    Info {
        code: Option<i64>,
    },
    AuthOk,
    AuthFailed {
        code: Option<i64>,
        msg: String,
    },
    /// `[0,"ws",[rows]]`.
    Snapshot(Vec<WalletRow>),
    /// `[0,"wu",row]`.
    Wallet(WalletRow),
    /// `[0,"bu",[AUM, AUM_NET]]`.
    Total {
        aum: Decimal,
        aum_net: Decimal,
    },
    /// `{"event":"subscribed","channel":"ticker","chanId":N,"symbol":S,…}`.
    Subscribed {
        chan_id: u64,
        symbol: String,
    },
    /// `{"event":"error","code":C,"msg":M,…}`, naming the `symbol` a subscribe was for.
    Error {
        code: Option<i64>,
        msg: String,
        symbol: Option<String>,
    },
    /// `[CHAN_ID,[FIELD,…]]` on a channel other than 0 (a ticker update): the array, as sent.
    ChannelData {
        chan_id: u64,
        body: String,
    },
    /// `[CHAN_ID,"hb"]`.
    Heartbeat,
    /// Valid, but nothing the streams use (`os`, `ps`, `n`, pong, `unsubscribed`…).
    Ignored,
    /// An account message we use (`ws`, `wu`, `bu`) or a frame that is not JSON, unreadable.
    Malformed(String),
}

/// The `auth` frame for `key`: `authPayload = "AUTH" + nonce` signed with the secret, the nonce
/// as a JSON number, wallet and balance messages only. Never `dms` (it would cancel the account's
/// orders when the socket closes), never the secret.
pub(crate) fn auth_frame(key: &str, secret: &[u8], nonce: Nonce) -> String {
    let payload = format!("AUTH{nonce}");
    let signature = sign_payload(secret, payload.as_bytes());
    serde_json::json!({
        "event": "auth",
        "apiKey": key,
        "authSig": signature,
        "authNonce": nonce.get(),
        "authPayload": payload,
        "filter": ["wallet", "balance"],
    })
    .to_string()
}

/// `subscribe` to the ticker channel of `symbol`.
pub(crate) fn subscribe_ticker(symbol: &str) -> String {
    serde_json::json!({"event": "subscribe", "channel": "ticker", "symbol": symbol}).to_string()
}

/// `unsubscribe` from channel `chan_id`.
pub(crate) fn unsubscribe(chan_id: u64) -> String {
    serde_json::json!({"event": "unsubscribe", "chanId": chan_id}).to_string()
}

/// What `text` (one text frame) says.
pub(crate) fn parse(text: &str) -> Inbound {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => parse_event(text),
        Some(b'[') => parse_channel(text),
        _ => Inbound::Malformed(format!("not a JSON object or array: {}", snippet(text))),
    }
}

fn parse_event(text: &str) -> Inbound {
    let Ok(Value::Object(event)) = serde_json::from_str::<Value>(text) else {
        return Inbound::Malformed(format!("unreadable event: {}", snippet(text)));
    };
    let code = event.get("code").and_then(Value::as_i64);
    let field = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_owned);
    match event.get("event").and_then(Value::as_str) {
        Some("info") => Inbound::Info { code },
        Some("auth") => match event.get("status").and_then(Value::as_str) {
            Some("OK") => Inbound::AuthOk,
            _ => Inbound::AuthFailed { code, msg: field("msg").unwrap_or_default() },
        },
        Some("subscribed") => match (event.get("chanId").and_then(Value::as_u64), field("symbol")) {
            (Some(chan_id), Some(symbol)) => Inbound::Subscribed { chan_id, symbol },
            _ => Inbound::Malformed(format!("subscribed without chanId or symbol: {}", snippet(text))),
        },
        Some("error") => {
            Inbound::Error { code, msg: field("msg").unwrap_or_default(), symbol: field("symbol") }
        }
        _ => Inbound::Ignored,
    }
}

fn parse_channel(text: &str) -> Inbound {
    let Ok(fields) = serde_json::from_str::<Vec<&RawValue>>(text) else {
        return Inbound::Malformed(format!("unreadable message: {}", snippet(text)));
    };
    let kind = fields.get(1).and_then(|raw| serde_json::from_str::<&str>(raw.get()).ok());
    if kind == Some("hb") {
        return Inbound::Heartbeat;
    }
    // Account messages are on channel 0; an array on another channel is that channel's data.
    let chan_id = fields.first().and_then(|raw| raw.get().parse::<u64>().ok());
    match (chan_id, fields.get(1)) {
        (Some(0), _) => {}
        (Some(chan_id), Some(body)) if body.get().starts_with('[') => {
            return Inbound::ChannelData { chan_id, body: body.get().to_owned() };
        }
        _ => return Inbound::Ignored,
    }
    let body = fields.get(2).copied();
    let malformed = |what: &str, reason: String| Inbound::Malformed(format!("{what}: {reason}"));
    match (kind, body) {
        (Some("ws"), Some(body)) => match serde_json::from_str::<Vec<&RawValue>>(body.get()) {
            Ok(rows) => rows
                .into_iter()
                .enumerate()
                .map(|(index, row)| parse_wallet_row(row, Some(index)))
                .collect::<Result<Vec<_>, _>>()
                .map_or_else(|e| malformed("ws snapshot", e.to_string()), Inbound::Snapshot),
            Err(_) => malformed("ws snapshot", format!("not an array of rows: {}", snippet(body.get()))),
        },
        (Some("wu"), Some(body)) => match parse_wallet_row(body, None) {
            Ok(row) => Inbound::Wallet(row),
            Err(e) => malformed("wu", e.to_string()),
        },
        (Some("bu"), Some(body)) => parse_totals(body).unwrap_or_else(|reason| malformed("bu", reason)),
        (Some("ws" | "wu" | "bu"), None) => malformed("account message", "has no body".to_owned()),
        _ => Inbound::Ignored,
    }
}

/// `[AUM, AUM_NET]`, both exact from the number text.
fn parse_totals(body: &RawValue) -> Result<Inbound, String> {
    let values = serde_json::from_str::<Vec<&RawValue>>(body.get())
        .map_err(|_| format!("not an array: {}", snippet(body.get())))?;
    let number = |index: usize, name: &str| {
        let raw = values.get(index).ok_or_else(|| format!("{name} is missing"))?;
        parse_json_number(raw.get()).map_err(|e| format!("{name}: {e}"))
    };
    Ok(Inbound::Total { aum: number(0, "AUM")?, aum_net: number(1, "AUM_NET")? })
}

fn snippet(text: &str) -> String {
    bfx_core::wire_error::snippet(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn auth_frame_matches_the_spec_vector() {
        let nonce = Nonce::new(1_700_000_000_000_000).unwrap();
        let frame: Value = serde_json::from_str(&auth_frame("k", b"secret", nonce)).unwrap();
        assert_eq!(
            frame,
            serde_json::json!({
                "event": "auth",
                "apiKey": "k",
                "authSig": "972fdb5f9dd2676d1d363fff221e4db3f14cf7a1bd7cf5c2baae317251d6aca9f1412106221dbac44d35ce125fbf4840",
                "authNonce": 1_700_000_000_000_000u64,
                "authPayload": "AUTH1700000000000000",
                "filter": ["wallet", "balance"],
            })
        );
    }

    #[test]
    fn events() {
        assert_eq!(
            parse(r#"{"event":"info","version":2,"serverId":"x","platform":{"status":1}}"#),
            Inbound::Info { code: None }
        );
        assert_eq!(parse(r#"{"event":"info","code":20051,"msg":"x"}"#), Inbound::Info { code: Some(20051) });
        assert_eq!(parse(r#"{"event":"auth","status":"OK","chanId":0,"userId":1}"#), Inbound::AuthOk);
        assert_eq!(
            parse(r#"{"event":"auth","status":"FAILED","chanId":0,"code":10100,"msg":"apikey: invalid"}"#),
            Inbound::AuthFailed { code: Some(10100), msg: "apikey: invalid".into() }
        );
        assert_eq!(parse(r#"{"event":"pong","ts":1,"cid":2}"#), Inbound::Ignored);
        assert_eq!(
            parse(
                r#"{"event":"subscribed","channel":"ticker","chanId":5,"symbol":"tAVAX:USD","pair":"AVAX:USD"}"#
            ),
            Inbound::Subscribed { chan_id: 5, symbol: "tAVAX:USD".into() }
        );
        assert!(matches!(
            parse(r#"{"event":"subscribed","channel":"ticker","chanId":"x"}"#),
            Inbound::Malformed(_)
        ));
        assert_eq!(
            parse(
                r#"{"event":"error","msg":"symbol: invalid","code":10300,"channel":"ticker","symbol":"tX"}"#
            ),
            Inbound::Error { code: Some(10300), msg: "symbol: invalid".into(), symbol: Some("tX".into()) }
        );
        assert_eq!(parse(r#"{"event":"unsubscribed","status":"OK","chanId":5}"#), Inbound::Ignored);
        assert_eq!(
            subscribe_ticker("tBTCUSD"),
            r#"{"channel":"ticker","event":"subscribe","symbol":"tBTCUSD"}"#
        );
        assert_eq!(unsubscribe(5), r#"{"chanId":5,"event":"unsubscribe"}"#);
        assert!(matches!(parse("hello"), Inbound::Malformed(_)));
        assert!(matches!(parse("{nope"), Inbound::Malformed(_)));
    }

    #[test]
    fn account_messages_are_exact() {
        let Inbound::Snapshot(rows) = parse(
            r#"[0,"ws",[["exchange","BTC",0.123456789012345678,0,null],["margin","USD",-1e-8,0,null,null,null]]]"#,
        ) else {
            panic!("not a snapshot");
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].balance, dec("0.123456789012345678"));
        assert_eq!(rows[1].balance, dec("-0.00000001"));
        let Inbound::Wallet(row) = parse(r#"[0,"wu",["exchange","ETH",2.5,0,2.5,null,null]]"#) else {
            panic!("not a wallet update");
        };
        assert_eq!(
            (row.currency.as_str(), row.balance, row.available),
            ("ETH", dec("2.5"), Some(dec("2.5")))
        );
        assert_eq!(
            parse(r#"[0,"bu",[12345.678901234567,12000.1]]"#),
            Inbound::Total { aum: dec("12345.678901234567"), aum_net: dec("12000.1") }
        );
        assert_eq!(parse(r#"[0,"ws",[]]"#), Inbound::Snapshot(Vec::new()));
    }

    #[test]
    fn other_messages_are_ignored_or_heartbeats() {
        assert_eq!(parse(r#"[0,"hb"]"#), Inbound::Heartbeat);
        assert_eq!(parse(r#"[17,"hb"]"#), Inbound::Heartbeat);
        assert_eq!(parse(r#"[0,"os",[]]"#), Inbound::Ignored);
        assert_eq!(parse(r#"[0,"ps",[]]"#), Inbound::Ignored);
        assert_eq!(parse(r#"[0,"n",[1,"x"]]"#), Inbound::Ignored);
        assert_eq!(
            parse(r#"[17,[1,2,3,4,5,6,7,8,9,10]]"#),
            Inbound::ChannelData { chan_id: 17, body: "[1,2,3,4,5,6,7,8,9,10]".into() }
        );
        assert_eq!(parse(r#"[17,"te",[1,2,3]]"#), Inbound::Ignored);
        assert_eq!(parse(r#"[5,"wu",["exchange","BTC",1]]"#), Inbound::Ignored, "not channel 0");
    }

    #[test]
    fn malformed_account_messages_are_reported() {
        for bad in [
            r#"[0,"wu",["exchange","BTC"]]"#,
            r#"[0,"ws",[["exchange","BTC",1],["exchange"]]]"#,
            r#"[0,"ws",{}]"#,
            r#"[0,"bu",[1.5]]"#,
            r#"[0,"bu",[1.5,"x"]]"#,
            r#"[0,"wu"]"#,
        ] {
            assert!(matches!(parse(bad), Inbound::Malformed(_)), "{bad}");
        }
    }
}
