//! The emulated world: accounts with their keys, wallets and open positions, public tickers, conf
//! lists, limits.
//!
//! Amounts, position figures and ticker fields are kept as the JSON number texts the state file
//! gave (validated at load), so responses carry them verbatim: `1e-8` stays `1e-8`, 18 decimals
//! stay 18 decimals. Loading and validation live in [`crate::state_file`]; this module is the
//! in-memory model.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::candle::CandleStore;
use crate::endpoint::Endpoint;
use crate::ledger::Ledger;

/// The built-in demo state, printed by `bfx sim --print-demo-state` as an example state file.
pub const DEMO_STATE_TOML: &str = include_str!("demo.toml");

/// When every emulated account was created: 2020-01-01T00:00:00Z, in milliseconds. Also the
/// default creation time of a position the state file does not date.
pub(crate) const MTS_ACCOUNT_CREATE: u64 = 1_577_836_800_000;

/// The permission scopes Bitfinex documents, in the order `auth/r/permissions` lists them.
pub(crate) const DOCUMENTED_SCOPES: [&str; 10] = [
    "account",
    "history",
    "orders",
    "positions",
    "funding",
    "settings",
    "wallets",
    "withdraw",
    "ui_withdraw",
    "bfxpay",
];

/// Everything the emulator serves. Build it with [`SimState::from_toml`], [`SimState::load`] or
/// [`SimState::demo`], then hand it to [`crate::serve`].
#[derive(Debug, Clone)]
pub struct SimState {
    /// `false` = maintenance (`platform_status = 0`): auth endpoints answer 20060.
    pub(crate) operative: bool,
    pub(crate) limits: Limits,
    pub(crate) accounts: Vec<Account>,
    /// In state-file order, which is the order `tickers?symbols=ALL` answers in.
    pub(crate) tickers: Vec<TickerRow>,
    /// Conf key → the JSON text of its value.
    pub(crate) conf: BTreeMap<String, String>,
    /// The state file's `[[candle]]` tables (the demo's built series), with the longer
    /// timeframes built from the daily ones.
    pub(crate) candles: CandleStore,
}

/// Rate-limit settings: a sliding window of `window`, a budget per endpoint, a block on excess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) window: Duration,
    pub(crate) block: Duration,
    /// Overrides of [`Endpoint::default_limit`].
    pub(crate) budgets: BTreeMap<Endpoint, u32>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { window: Duration::from_secs(60), block: Duration::from_secs(60), budgets: BTreeMap::new() }
    }
}

impl Limits {
    pub(crate) fn budget(&self, endpoint: Endpoint) -> u32 {
        self.budgets.get(&endpoint).copied().unwrap_or(endpoint.default_limit())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) name: String,
    pub(crate) user_id: u64,
    pub(crate) email: String,
    pub(crate) keys: Vec<ApiKey>,
    pub(crate) wallets: Vec<Wallet>,
    /// Open positions, one per trading pair, in state-file order.
    pub(crate) positions: Vec<Position>,
    /// Every balance change: the state file's `[[account.ledger]]`, then admin changes.
    pub(crate) ledger: Ledger,
}

#[derive(Clone)]
pub(crate) struct ApiKey {
    pub(crate) key: String,
    pub(crate) secret: String,
    /// Scope → access; scopes not listed have none.
    pub(crate) permissions: BTreeMap<String, Access>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &self.key)
            .field("secret", &"***")
            .field("permissions", &self.permissions)
            .finish()
    }
}

impl ApiKey {
    pub(crate) fn access(&self, scope: &str) -> Access {
        self.permissions.get(scope).copied().unwrap_or_default()
    }

    /// Every scope to report: the documented ones in order, then any other scope the key names.
    pub(crate) fn scopes(&self) -> Vec<(&str, Access)> {
        let mut scopes: Vec<(&str, Access)> =
            DOCUMENTED_SCOPES.iter().map(|s| (*s, self.access(s))).collect();
        for (scope, access) in &self.permissions {
            if !DOCUMENTED_SCOPES.contains(&scope.as_str()) {
                scopes.push((scope, *access));
            }
        }
        scopes
    }
}

/// Read and write access to one scope: the state file's `""`, `"r"`, `"w"` or `"rw"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Access {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

impl Access {
    pub(crate) fn parse(text: &str) -> Option<Access> {
        match text {
            "" => Some(Access { read: false, write: false }),
            "r" => Some(Access { read: true, write: false }),
            "w" => Some(Access { read: false, write: true }),
            "rw" => Some(Access { read: true, write: true }),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match (self.read, self.write) {
            (false, false) => "",
            (true, false) => "r",
            (false, true) => "w",
            (true, true) => "rw",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Wallet {
    pub(crate) wallet_type: String,
    pub(crate) currency: String,
    /// JSON number texts, served verbatim.
    pub(crate) balance: String,
    pub(crate) unsettled_interest: String,
    /// `None` is served as `null`.
    pub(crate) available: Option<String>,
    pub(crate) last_change: Option<String>,
}

/// An open position (`auth/r/positions`). Figures are JSON number texts, served verbatim; PL and
/// the rest that Bitfinex computes are given by the state file, never computed here.
#[derive(Debug, Clone)]
pub(crate) struct Position {
    /// A trading pair: `tBTCUSD`, `tBTCF0:USTF0`.
    pub(crate) symbol: String,
    /// `ACTIVE` or `CLOSED`.
    pub(crate) status: String,
    /// Positive long, negative short, never 0.
    pub(crate) amount: String,
    pub(crate) base_price: String,
    pub(crate) margin_funding: String,
    /// `0` daily, `1` term.
    pub(crate) margin_funding_type: u8,
    /// `None` is served as `null`.
    pub(crate) pl: Option<String>,
    pub(crate) pl_perc: Option<String>,
    pub(crate) price_liq: Option<String>,
    pub(crate) leverage: Option<String>,
    /// Unique across the state.
    pub(crate) id: u64,
    /// Milliseconds since the epoch.
    pub(crate) mts_create: u64,
    pub(crate) mts_update: u64,
    /// `TYPE`: `0` margin, `1` derivatives.
    pub(crate) kind: u8,
    pub(crate) collateral: String,
    pub(crate) collateral_min: String,
}

/// A ticker: the symbol and the fields after it, each a JSON number text or `null`.
#[derive(Debug, Clone)]
pub(crate) struct TickerRow {
    pub(crate) symbol: String,
    pub(crate) fields: Vec<String>,
}

/// One API key of the state, for `bfx sim --demo` to print so a user can point a client at it.
#[derive(Clone, PartialEq, Eq)]
pub struct DemoKey {
    pub account: String,
    pub key: String,
    pub secret: String,
    /// The scopes with any access, e.g. `account:r wallets:r orders:rw`, or `none`.
    pub permissions: String,
}

impl fmt::Debug for DemoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoKey")
            .field("account", &self.account)
            .field("key", &self.key)
            .field("secret", &"***")
            .field("permissions", &self.permissions)
            .finish()
    }
}

impl SimState {
    /// The built-in demo state ([`DEMO_STATE_TOML`]) with a year of ledger history ending now
    /// (see [`SimState::demo_at`]). A unit test guarantees it parses; were it ever broken, this
    /// returns an empty (operative, account-less) state rather than panicking.
    pub fn demo() -> SimState {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        SimState::demo_at(i64::try_from(now.as_millis()).unwrap_or(0))
    }

    /// The built-in demo state with a deterministic year of ledger history for every account,
    /// ending before the UTC day of `start_ms` (milliseconds since the epoch) and exactly at the
    /// demo's balances: deposits, monthly trades with their fees, daily margin funding payments
    /// on the funding wallets, a withdrawal, transfers between wallets. Every trading pair of the
    /// demo tickers also gets daily candles over that year and the start day, the last closing at
    /// its ticker's last price. History and candles are built, not read from
    /// [`DEMO_STATE_TOML`]; were either ever impossible, the state has none of it.
    pub fn demo_at(start_ms: i64) -> SimState {
        let Ok(mut state) = SimState::from_toml(DEMO_STATE_TOML, "demo.toml") else {
            return SimState::empty();
        };
        let mut with_history = state.clone();
        match crate::demo_history::add_history(&mut with_history, start_ms) {
            Ok(()) => state = with_history,
            Err(e) => tracing::warn!("demo state: no ledger history ({e})"),
        }
        match crate::demo_candles::candles(&state, start_ms) {
            Ok(candles) => state.candles = candles,
            Err(e) => tracing::warn!("demo state: no candles ({e})"),
        }
        state
    }

    /// Every key of every account, in state-file order.
    pub fn keys(&self) -> Vec<DemoKey> {
        self.accounts
            .iter()
            .flat_map(|account| {
                account.keys.iter().map(|key| DemoKey {
                    account: account.name.clone(),
                    key: key.key.clone(),
                    secret: key.secret.clone(),
                    permissions: permission_summary(key),
                })
            })
            .collect()
    }

    pub(crate) fn empty() -> SimState {
        SimState {
            operative: true,
            limits: Limits::default(),
            accounts: Vec::new(),
            tickers: Vec::new(),
            conf: BTreeMap::new(),
            candles: CandleStore::default(),
        }
    }

    /// The account owning `key`, and the key. Keys are unique across accounts (checked at load).
    pub(crate) fn find_key(&self, key: &str) -> Option<(&Account, &ApiKey)> {
        self.accounts
            .iter()
            .find_map(|account| account.keys.iter().find(|k| k.key == key).map(|k| (account, k)))
    }

    pub(crate) fn ticker(&self, symbol: &str) -> Option<&TickerRow> {
        self.tickers.iter().find(|t| t.symbol == symbol)
    }
}

fn permission_summary(key: &ApiKey) -> String {
    let granted: Vec<String> = key
        .scopes()
        .into_iter()
        .filter(|(_, access)| access.read || access.write)
        .map(|(scope, access)| format!("{scope}:{}", access.as_str()))
        .collect();
    if granted.is_empty() { "none".to_owned() } else { granted.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_state_parses() {
        let state = SimState::from_toml(DEMO_STATE_TOML, "demo.toml").unwrap();
        assert!(state.operative);
        assert_eq!(state.limits, Limits::default());
        let names: Vec<&str> = state.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["main", "bot", "cold", "paper"]);
        assert_eq!(SimState::demo().accounts.len(), 4);
    }

    #[test]
    fn demo_keys_are_listed_with_their_permissions() {
        let keys = SimState::demo().keys();
        let listed: Vec<(&str, &str, &str, &str)> = keys
            .iter()
            .map(|k| (k.account.as_str(), k.key.as_str(), k.secret.as_str(), k.permissions.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("main", "demo-main", "demo-main-secret", "account:r history:r positions:r wallets:r"),
                ("bot", "demo-bot", "demo-bot-secret", "account:r history:r orders:rw wallets:r"),
                ("cold", "demo-cold", "demo-cold-secret", "account:r history:r wallets:r"),
                ("paper", "demo-paper", "demo-paper-secret", "account:r history:r wallets:r"),
            ]
        );
        assert!(!format!("{:?}", keys[0]).contains("demo-main-secret"));
    }

    #[test]
    fn access_texts_round_trip() {
        for text in ["", "r", "w", "rw"] {
            assert_eq!(Access::parse(text).map(Access::as_str), Some(text));
        }
        assert_eq!(Access::parse("wr"), None);
        assert_eq!(Access::parse("R"), None);
    }

    #[test]
    fn extra_scopes_follow_the_documented_ones() {
        let key = ApiKey {
            key: "k".into(),
            secret: "s".into(),
            permissions: BTreeMap::from([
                ("eaas_agreement".to_owned(), Access { read: true, write: false }),
                ("wallets".to_owned(), Access { read: true, write: false }),
            ]),
        };
        let scopes: Vec<&str> = key.scopes().into_iter().map(|(s, _)| s).collect();
        assert_eq!(scopes.len(), 11);
        assert_eq!(scopes[6], "wallets");
        assert_eq!(scopes[10], "eaas_agreement");
        assert_eq!(permission_summary(&key), "wallets:r eaas_agreement:r");
        assert!(!format!("{key:?}").contains("\"s\""));
    }
}
