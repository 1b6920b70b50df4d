//! The texts of the frames `/ws/2` sends, in Bitfinex's shapes (spec: "WebSocket v2").
//!
//! Written as text, like the REST bodies, so amounts and ticker fields go out exactly as the state
//! holds them. Event frames are JSON objects (`{"event":…}`); channel frames are arrays led by
//! the channel id, 0 being the account channel.

use std::hash::{BuildHasher, RandomState};

use serde_json::Value;

use crate::account::wallet_row;
use crate::reply::quoted;
use crate::state::{ApiKey, Wallet};

/// Info events the admin API can send, with Bitfinex's texts (the docs' "Info Messages").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InfoCode {
    /// The server stops or restarts: reconnect. The emulator then closes every connection.
    Restart,
    MaintenanceStart,
    MaintenanceEnd,
}

impl InfoCode {
    pub(crate) fn from_code(code: u64) -> Option<InfoCode> {
        match code {
            20051 => Some(InfoCode::Restart),
            20060 => Some(InfoCode::MaintenanceStart),
            20061 => Some(InfoCode::MaintenanceEnd),
            _ => None,
        }
    }

    pub(crate) const fn code(self) -> u32 {
        match self {
            InfoCode::Restart => 20051,
            InfoCode::MaintenanceStart => 20060,
            InfoCode::MaintenanceEnd => 20061,
        }
    }

    const fn message(self) -> &'static str {
        match self {
            InfoCode::Restart => "Stopping. Please try to reconnect",
            InfoCode::MaintenanceStart => {
                "Entering in Maintenance mode. Please pause any activity and resume after receiving the info message 20061 (it should take 120 seconds at most)."
            }
            InfoCode::MaintenanceEnd => {
                "Maintenance ended. You can resume normal activity. It is advised to unsubscribe/subscribe again all channels."
            }
        }
    }
}

/// The first frame of every connection.
pub(crate) fn welcome(server_id: &str, operative: bool) -> String {
    format!(
        r#"{{"event":"info","version":2,"serverId":{},"platform":{{"status":{}}}}}"#,
        quoted(server_id),
        u8::from(operative)
    )
}

pub(crate) fn info(code: InfoCode) -> String {
    format!(r#"{{"event":"info","code":{},"msg":{}}}"#, code.code(), quoted(code.message()))
}

/// `caps` lists every scope of the key (documented ones first) as `{"read":0|1,"write":0|1}`.
pub(crate) fn auth_ok(user_id: u64, auth_id: &str, key: &ApiKey) -> String {
    let caps: Vec<String> = key
        .scopes()
        .into_iter()
        .map(|(scope, access)| {
            format!(
                r#"{}:{{"read":{},"write":{}}}"#,
                quoted(scope),
                u8::from(access.read),
                u8::from(access.write)
            )
        })
        .collect();
    format!(
        r#"{{"event":"auth","status":"OK","chanId":0,"userId":{user_id},"auth_id":{},"caps":{{{}}}}}"#,
        quoted(auth_id),
        caps.join(",")
    )
}

pub(crate) fn auth_failed(code: i64, msg: &str) -> String {
    format!(r#"{{"event":"auth","status":"FAILED","chanId":0,"code":{code},"msg":{}}}"#, quoted(msg))
}

/// `[0,"ws",[ROW,…]]`: AVAILABLE_BALANCE is `null` in every row, as on Bitfinex until a `calc`.
pub(crate) fn wallet_snapshot(wallets: &[Wallet]) -> String {
    let rows: Vec<String> = wallets.iter().map(|w| wallet_row(w, None)).collect();
    format!(r#"[0,"ws",[{}]]"#, rows.join(","))
}

/// `[0,"wu",ROW]`, `ROW` from [`wallet_row`].
pub(crate) fn wallet_update(row: &str) -> String {
    format!(r#"[0,"wu",{row}]"#)
}

/// `[0,"bu",[AUM,AUM_NET]]`, `totals` from [`super::aum::totals`].
pub(crate) fn balance_update(totals: &str) -> String {
    format!(r#"[0,"bu",{totals}]"#)
}

pub(crate) fn heartbeat(chan_id: u64) -> String {
    format!(r#"[{chan_id},"hb"]"#)
}

/// `[CHAN_ID,[FIELD,…]]`: the ticker's fields after its symbol, verbatim.
pub(crate) fn ticker(chan_id: u64, fields: &str) -> String {
    format!("[{chan_id},[{fields}]]")
}

/// `subscribed` names the pair (`tBTCUSD` → `BTCUSD`, `tAVAX:USD` → `AVAX:USD`) or, for a funding
/// symbol, the currency; it echoes the client's `subId` (the Python client matches on it).
pub(crate) fn subscribed(chan_id: u64, symbol: &str, sub_id: Option<&Value>) -> String {
    let (field, name) = match symbol.strip_prefix('f') {
        Some(currency) => ("currency", currency),
        None => ("pair", symbol.strip_prefix('t').unwrap_or(symbol)),
    };
    let sub_id = sub_id.map(|id| format!(r#","subId":{id}"#)).unwrap_or_default();
    format!(
        r#"{{"event":"subscribed","channel":"ticker","chanId":{chan_id},"symbol":{},"{field}":{}{sub_id}}}"#,
        quoted(symbol),
        quoted(name)
    )
}

pub(crate) fn unsubscribed(chan_id: u64) -> String {
    format!(r#"{{"event":"unsubscribed","status":"OK","chanId":{chan_id}}}"#)
}

/// `{"event":"error","msg":…,"code":…}` followed by the request fields named in `echo`, as
/// Bitfinex echoes a failed subscription's `channel` and `symbol`.
pub(crate) fn error(code: u32, msg: &str, echo: &[(&str, &Value)]) -> String {
    let echoed: String = echo.iter().map(|(name, value)| format!(",{}:{value}", quoted(name))).collect();
    format!(r#"{{"event":"error","msg":{},"code":{code}{echoed}}}"#, quoted(msg))
}

pub(crate) fn pong(ts_ms: u128, cid: Option<&Value>) -> String {
    let cid = cid.map(|cid| format!(r#","cid":{cid}"#)).unwrap_or_default();
    format!(r#"{{"event":"pong","ts":{ts_ms}{cid}}}"#)
}

pub(crate) fn conf(accepted: bool, flags: &Value) -> String {
    let status = if accepted { "OK" } else { "FAILED" };
    format!(r#"{{"event":"conf","status":"{status}","flags":{flags}}}"#)
}

/// A random version-4 UUID text, for `serverId` and `auth_id`. Random enough to tell servers and
/// sessions apart (std's per-process random hash keys), not for anything secret.
pub(crate) fn uuid_like() -> String {
    let random = RandomState::new();
    let (hi, lo) = (random.hash_one(0x5eed_u32), random.hash_one(0xface_u32));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0x0fff,
        ((lo >> 48) & 0x3fff) | 0x8000,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SimState;
    use serde_json::json;

    #[test]
    fn event_frames() {
        assert_eq!(
            welcome("s-1", true),
            r#"{"event":"info","version":2,"serverId":"s-1","platform":{"status":1}}"#
        );
        assert_eq!(
            info(InfoCode::Restart),
            r#"{"event":"info","code":20051,"msg":"Stopping. Please try to reconnect"}"#
        );
        assert_eq!(InfoCode::from_code(20060).map(InfoCode::code), Some(20060));
        assert_eq!(InfoCode::from_code(20000), None);
        assert_eq!(
            auth_failed(10114, "nonce: small"),
            r#"{"event":"auth","status":"FAILED","chanId":0,"code":10114,"msg":"nonce: small"}"#
        );
        assert_eq!(pong(17, Some(&json!(42))), r#"{"event":"pong","ts":17,"cid":42}"#);
        assert_eq!(pong(17, None), r#"{"event":"pong","ts":17}"#);
        assert_eq!(conf(true, &json!(131072)), r#"{"event":"conf","status":"OK","flags":131072}"#);
        let echo = [("channel", &json!("ticker")), ("symbol", &json!("tX\"Y"))];
        assert_eq!(
            error(10300, "symbol: invalid", &echo),
            r#"{"event":"error","msg":"symbol: invalid","code":10300,"channel":"ticker","symbol":"tX\"Y"}"#
        );
    }

    #[test]
    fn subscribed_names_the_pair_or_currency() {
        assert_eq!(
            subscribed(5, "tAVAX:USD", Some(&json!("a-1"))),
            r#"{"event":"subscribed","channel":"ticker","chanId":5,"symbol":"tAVAX:USD","pair":"AVAX:USD","subId":"a-1"}"#
        );
        assert_eq!(
            subscribed(6, "fUSD", None),
            r#"{"event":"subscribed","channel":"ticker","chanId":6,"symbol":"fUSD","currency":"USD"}"#
        );
    }

    #[test]
    fn auth_ok_lists_caps_and_wallet_rows_hold_null_available() {
        let state = SimState::demo();
        let (account, key) = state.find_key("demo-bot").unwrap();
        let ok = auth_ok(account.user_id, "a-1", key);
        let parsed: Value = serde_json::from_str(&ok).unwrap();
        assert_eq!(parsed["caps"]["orders"], json!({"read": 1, "write": 1}));
        assert_eq!(parsed["caps"]["withdraw"], json!({"read": 0, "write": 0}));
        assert_eq!(parsed["caps"].as_object().unwrap().len(), 10);
        assert!(ok.starts_with(
            r#"{"event":"auth","status":"OK","chanId":0,"userId":1002,"auth_id":"a-1","caps":{"account":"#
        ));
        let snapshot = wallet_snapshot(&account.wallets[..1]);
        assert!(snapshot.starts_with(r#"[0,"ws",[["exchange","#), "{snapshot}");
        assert_eq!(serde_json::from_str::<Value>(&snapshot).unwrap()[2][0][4], Value::Null);
    }

    #[test]
    fn uuids_look_like_uuids_and_differ() {
        let (a, b) = (uuid_like(), uuid_like());
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_eq!(&a[14..15], "4");
    }
}
