//! Reading a state file (TOML, the format in the design doc) strictly into a [`SimState`].
//!
//! Unknown fields, amounts that are not JSON number texts, duplicate accounts or API keys, ticker
//! rows of the wrong length and unknown permission values are refused with `FILE:LINE: reason`,
//! the line taken from the offending value's span. Positions are checked in [`position`], ledger
//! entries in [`ledger`], candles in [`candle`], single values in [`check`]; each answers a span
//! and a reason, which this loader turns into the line.

mod candle;
mod check;
mod ledger;
mod position;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::endpoint::Endpoint;
use crate::state::{Access, Account, ApiKey, Limits, SimState, TickerRow, Wallet};

/// Fields after the symbol in a trading (`t…`) and a funding (`f…`) ticker row.
pub(crate) const TRADING_FIELDS: usize = 10;
pub(crate) const FUNDING_FIELDS: usize = 16;

/// A state file that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("{path}: cannot read the state file: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Malformed TOML or a value the emulator refuses. `line` is 1-based, where known.
    #[error("{origin}{}: {reason}", at_line(*.line))]
    Invalid { origin: String, line: Option<usize>, reason: String },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

impl SimState {
    /// Parses a state file's text. `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<SimState, StateError> {
        let loader = Loader { text, origin };
        let file: StateFile = toml::from_str(text).map_err(|e| {
            let mut reason = e.message().trim_end().to_owned();
            // toml says only "duplicate key"; name it, as the span covers it.
            if let Some(key) = e.span().and_then(|span| text.get(span)).filter(|_| reason == "duplicate key")
            {
                reason = format!("duplicate key `{}`", key.trim());
            }
            StateError::Invalid {
                origin: origin.to_owned(),
                line: e.span().map(|s| loader.line_of(s.start)),
                reason,
            }
        })?;
        loader.build(file)
    }

    /// Reads and parses a state file.
    pub fn load(path: &Path) -> Result<SimState, StateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| StateError::Read { path: path.display().to_string(), source })?;
        SimState::from_toml(&text, &path.display().to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    platform_status: Option<Spanned<i64>>,
    limits: Option<LimitsFile>,
    #[serde(default)]
    account: Vec<AccountFile>,
    #[serde(default)]
    ticker: Vec<TickerFile>,
    #[serde(default)]
    conf: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    candle: Vec<candle::CandleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    window_secs: Option<Spanned<i64>>,
    block_secs: Option<Spanned<i64>>,
    #[serde(default)]
    per_minute: BTreeMap<String, Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFile {
    name: Spanned<String>,
    user_id: Spanned<i64>,
    email: String,
    #[serde(default)]
    key: Vec<KeyFile>,
    #[serde(default)]
    wallet: Vec<WalletFile>,
    #[serde(default)]
    position: Vec<position::PositionFile>,
    #[serde(default)]
    ledger: Vec<ledger::LedgerFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    key: Spanned<String>,
    secret: Spanned<String>,
    #[serde(default)]
    permissions: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WalletFile {
    #[serde(rename = "type")]
    wallet_type: Spanned<String>,
    currency: Spanned<String>,
    balance: Spanned<String>,
    unsettled_interest: Spanned<String>,
    available: Option<Spanned<String>>,
    last_change: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TickerFile {
    symbol: Spanned<String>,
    row: Spanned<Vec<Spanned<String>>>,
}

struct Loader<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Loader<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
    }

    fn error(&self, span: Range<usize>, reason: impl Into<String>) -> StateError {
        StateError::Invalid {
            origin: self.origin.to_owned(),
            line: Some(self.line_of(span.start)),
            reason: reason.into(),
        }
    }

    fn refused(&self, refused: check::Refused) -> StateError {
        self.error(refused.at, refused.reason)
    }

    fn build(&self, file: StateFile) -> Result<SimState, StateError> {
        let operative = match &file.platform_status {
            None => true,
            Some(status) => match *status.get_ref() {
                1 => true,
                0 => false,
                other => {
                    return Err(self.error(
                        status.span(),
                        format!("platform_status must be 1 (operative) or 0 (maintenance), found {other}"),
                    ));
                }
            },
        };
        let limits = match file.limits {
            None => Limits::default(),
            Some(limits) => self.limits(limits)?,
        };
        Ok(SimState {
            operative,
            limits,
            accounts: self.accounts(file.account)?,
            tickers: self.tickers(file.ticker)?,
            conf: self.conf(file.conf)?,
            candles: candle::candles(file.candle, &|at| self.line_of(at)).map_err(|r| self.refused(r))?,
        })
    }

    fn limits(&self, file: LimitsFile) -> Result<Limits, StateError> {
        let defaults = Limits::default();
        let seconds = |value: Option<Spanned<i64>>, name: &str, default: Duration| match value {
            None => Ok(default),
            Some(v) => match u64::try_from(*v.get_ref()) {
                Ok(secs) if secs >= 1 => Ok(Duration::from_secs(secs)),
                _ => {
                    Err(self.error(v.span(), format!("{name} must be a whole number of seconds, at least 1")))
                }
            },
        };
        let window = seconds(file.window_secs, "window_secs", defaults.window)?;
        let block = seconds(file.block_secs, "block_secs", defaults.block)?;
        let mut budgets = BTreeMap::new();
        for (name, value) in file.per_minute {
            let Some(endpoint) = Endpoint::from_name(&name) else {
                let known: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
                return Err(self.error(
                    value.span(),
                    format!("unknown endpoint {name:?} in per_minute; known: {}", known.join(", ")),
                ));
            };
            let Ok(budget) = u32::try_from(*value.get_ref()) else {
                return Err(self.error(value.span(), format!("per_minute {name:?} must be 0 or more")));
            };
            budgets.insert(endpoint, budget);
        }
        Ok(Limits { window, block, budgets })
    }

    fn accounts(&self, files: Vec<AccountFile>) -> Result<Vec<Account>, StateError> {
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut user_ids: HashMap<i64, usize> = HashMap::new();
        let mut api_keys: HashMap<String, usize> = HashMap::new();
        let mut position_ids = position::PositionIds::default();
        let mut accounts = Vec::with_capacity(files.len());
        for file in files {
            let name_span = file.name.span();
            let name = file.name.into_inner();
            if name.is_empty() {
                return Err(self.error(name_span, "account name is empty"));
            }
            if let Some(first) = names.insert(name.clone(), self.line_of(name_span.start)) {
                return Err(
                    self.error(name_span, format!("duplicate account {name:?} (first at line {first})"))
                );
            }
            let user_id_span = file.user_id.span();
            let user_id = *file.user_id.get_ref();
            let Ok(user_id_u64) = u64::try_from(user_id) else {
                return Err(self.error(user_id_span, "user_id must be a positive integer"));
            };
            if user_id_u64 == 0 {
                return Err(self.error(user_id_span, "user_id must be a positive integer"));
            }
            if let Some(first) = user_ids.insert(user_id, self.line_of(user_id_span.start)) {
                return Err(
                    self.error(user_id_span, format!("duplicate user_id {user_id} (first at line {first})"))
                );
            }
            let mut keys = Vec::with_capacity(file.key.len());
            for key in file.key {
                keys.push(self.key(key, &mut api_keys)?);
            }
            let ledger = ledger::ledger(&name, file.ledger, &|at| self.line_of(at))
                .map_err(|refused| self.refused(refused))?;
            accounts.push(Account {
                ledger,
                name,
                user_id: user_id_u64,
                email: file.email,
                keys,
                wallets: self.wallets(file.wallet)?,
                positions: position::positions(file.position, &mut position_ids, &|at| self.line_of(at))
                    .map_err(|refused| self.refused(refused))?,
            });
        }
        position::assign_ids(&mut accounts, &position_ids);
        Ok(accounts)
    }

    fn key(&self, file: KeyFile, seen: &mut HashMap<String, usize>) -> Result<ApiKey, StateError> {
        let key_span = file.key.span();
        let key = file.key.into_inner();
        if key.is_empty() {
            return Err(self.error(key_span, "API key is empty"));
        }
        if let Some(first) = seen.insert(key.clone(), self.line_of(key_span.start)) {
            return Err(self.error(
                key_span,
                format!("duplicate API key {key:?} (first at line {first}); a key belongs to one account"),
            ));
        }
        if file.secret.get_ref().is_empty() {
            return Err(self.error(file.secret.span(), "API secret is empty"));
        }
        let mut permissions = BTreeMap::new();
        for (scope, value) in file.permissions {
            if scope.is_empty() {
                return Err(self.error(value.span(), "permission scope name is empty"));
            }
            let Some(access) = Access::parse(value.get_ref()) else {
                return Err(self.error(
                    value.span(),
                    format!(
                        "permission {scope} = {:?} is not one of \"\", \"r\", \"w\", \"rw\"",
                        value.get_ref()
                    ),
                ));
            };
            permissions.insert(scope, access);
        }
        Ok(ApiKey { key, secret: file.secret.into_inner(), permissions })
    }

    fn wallets(&self, files: Vec<WalletFile>) -> Result<Vec<Wallet>, StateError> {
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        let mut wallets = Vec::with_capacity(files.len());
        for file in files {
            let wallet_type = self.non_empty(file.wallet_type, "wallet type")?;
            let currency_span = file.currency.span();
            let currency = self.non_empty(file.currency, "currency")?;
            let line = self.line_of(currency_span.start);
            if let Some(first) = seen.insert((wallet_type.clone(), currency.clone()), line) {
                return Err(self.error(
                    currency_span,
                    format!("duplicate {wallet_type} wallet for {currency} (first at line {first})"),
                ));
            }
            wallets.push(Wallet {
                balance: self.number(file.balance, "balance")?,
                unsettled_interest: self.number(file.unsettled_interest, "unsettled_interest")?,
                available: file.available.map(|a| self.number(a, "available")).transpose()?,
                last_change: file.last_change,
                wallet_type,
                currency,
            });
        }
        Ok(wallets)
    }

    fn tickers(&self, files: Vec<TickerFile>) -> Result<Vec<TickerRow>, StateError> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut tickers = Vec::with_capacity(files.len());
        for file in files {
            let symbol_span = file.symbol.span();
            let symbol = file.symbol.into_inner();
            let expected = match symbol.as_bytes() {
                [b't', _, ..] => TRADING_FIELDS,
                [b'f', _, ..] => FUNDING_FIELDS,
                _ => {
                    return Err(self.error(
                        symbol_span,
                        format!("ticker symbol {symbol:?} must start with t (trading) or f (funding)"),
                    ));
                }
            };
            if let Some(first) = seen.insert(symbol.clone(), self.line_of(symbol_span.start)) {
                return Err(
                    self.error(symbol_span, format!("duplicate ticker {symbol:?} (first at line {first})"))
                );
            }
            let row_span = file.row.span();
            let row = file.row.into_inner();
            if row.len() != expected {
                return Err(self.error(
                    row_span,
                    format!(
                        "ticker {symbol:?} row has {} fields; a {} row has {expected} after the symbol",
                        row.len(),
                        if expected == TRADING_FIELDS { "trading" } else { "funding" }
                    ),
                ));
            }
            let fields = row
                .into_iter()
                .map(|field| {
                    if field.get_ref() == "null" {
                        Ok(field.into_inner())
                    } else {
                        self.number(field, "ticker field")
                    }
                })
                .collect::<Result<Vec<String>, StateError>>()?;
            tickers.push(TickerRow { symbol, fields });
        }
        Ok(tickers)
    }

    fn conf(
        &self,
        entries: BTreeMap<String, Spanned<toml::Value>>,
    ) -> Result<BTreeMap<String, String>, StateError> {
        entries
            .into_iter()
            .map(|(key, value)| {
                if !value.get_ref().is_array() {
                    return Err(self.error(
                        value.span(),
                        format!("conf {key:?} must be an array (it is served as the key's JSON value)"),
                    ));
                }
                let json =
                    toml_to_json(value.get_ref()).map_err(|reason| self.error(value.span(), reason))?;
                Ok((key, json.to_string()))
            })
            .collect()
    }

    fn non_empty(&self, value: Spanned<String>, what: &str) -> Result<String, StateError> {
        if value.get_ref().is_empty() {
            return Err(self.error(value.span(), format!("{what} is empty")));
        }
        Ok(value.into_inner())
    }

    /// Keeps a number's text as written, after checking it is a JSON number an exact decimal holds.
    fn number(&self, value: Spanned<String>, what: &str) -> Result<String, StateError> {
        check::number(value, what).map_err(|refused| self.refused(refused))
    }
}

fn toml_to_json(value: &toml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as Json;
    Ok(match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(|| format!("{f} cannot be written as JSON"))?,
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(toml_to_json).collect::<Result<_, _>>()?),
        toml::Value::Table(table) => Json::Object(
            table.iter().map(|(k, v)| Ok((k.clone(), toml_to_json(v)?))).collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[account]]
name = "main"
user_id = 1001
email = "main@example.com"
  [[account.key]]
  key = "k1"
  secret = "s1"
  permissions = { wallets = "r", withdraw = "" }
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "1e-8"
  unsettled_interest = "0"
"#;

    fn error(text: &str) -> String {
        match SimState::from_toml(text, "state.toml") {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn minimal_state_uses_defaults() {
        let state = SimState::from_toml(MINIMAL, "state.toml").unwrap();
        assert!(state.operative);
        assert_eq!(state.limits, Limits::default());
        let account = &state.accounts[0];
        assert_eq!((account.name.as_str(), account.user_id), ("main", 1001));
        assert_eq!(account.wallets[0].balance, "1e-8");
        assert_eq!(account.wallets[0].available, None);
        let key = &account.keys[0];
        assert_eq!(key.access("wallets"), Access { read: true, write: false });
        assert_eq!(key.access("withdraw"), Access::default());
        assert_eq!(key.access("orders"), Access::default());
        assert!(state.tickers.is_empty() && state.conf.is_empty());
    }

    #[test]
    fn limits_and_status() {
        let state = SimState::from_toml(
            "platform_status = 0\n[limits]\nwindow_secs = 1\nblock_secs = 2\nper_minute = { \"auth/r/wallets\" = 3, tickers = 0 }\n",
            "s",
        )
        .unwrap();
        assert!(!state.operative);
        assert_eq!(state.limits.window, Duration::from_secs(1));
        assert_eq!(state.limits.block, Duration::from_secs(2));
        assert_eq!(state.limits.budget(Endpoint::Wallets), 3);
        assert_eq!(state.limits.budget(Endpoint::Tickers), 0);
        assert_eq!(state.limits.budget(Endpoint::Conf), 90);
    }

    #[test]
    fn conf_values_become_json() {
        let state = SimState::from_toml(
            "[conf]\n\"pub:map:currency:sym\" = [[\"UST\", \"USDt\"]]\n\"x\" = [1, 2.5, true, { a = \"b\" }]\n",
            "s",
        )
        .unwrap();
        assert_eq!(state.conf["pub:map:currency:sym"], r#"[["UST","USDt"]]"#);
        assert_eq!(state.conf["x"], r#"[1,2.5,true,{"a":"b"}]"#);
        assert_eq!(
            error("[conf]\nx = 1\n"),
            "state.toml:2: conf \"x\" must be an array (it is served as the key's JSON value)"
        );
    }

    #[test]
    fn unknown_field_names_its_line() {
        let text = MINIMAL
            .replace("  unsettled_interest = \"0\"\n", "  unsettled_interest = \"0\"\n  colour = \"red\"\n");
        let e = error(&text);
        assert!(e.starts_with("state.toml:15: unknown field `colour`"), "{e}");
        assert!(error("platfrom_status = 1\n").starts_with("state.toml:1: unknown field `platfrom_status`"));
    }

    #[test]
    fn bad_numbers_name_their_line() {
        let e = error(&MINIMAL.replace("\"1e-8\"", "\"1,5\""));
        assert_eq!(e, "state.toml:13: balance: \"1,5\" is not a JSON number");
        let e = error(&MINIMAL.replace("\"1e-8\"", "\"1e-40\""));
        assert_eq!(
            e,
            "state.toml:13: balance: 1e-40 has more than 28 decimal places and cannot be held exactly"
        );
        let e = error(&MINIMAL.replace("balance = \"1e-8\"", "balance = 1.5"));
        assert!(e.starts_with("state.toml:13: invalid type: floating point `1.5`, expected a string"), "{e}");
    }

    #[test]
    fn duplicates_are_refused() {
        let e = error(&format!("{MINIMAL}{}", MINIMAL.replace("1001", "1002").replace("k1", "k2")));
        assert_eq!(e, "state.toml:17: duplicate account \"main\" (first at line 3)");
        let e =
            error(&format!("{MINIMAL}{}", MINIMAL.replace("\"main\"", "\"bot\"").replace("1001", "1002")));
        assert_eq!(
            e,
            "state.toml:21: duplicate API key \"k1\" (first at line 7); a key belongs to one account"
        );
        let e = error(&format!("{MINIMAL}{}", MINIMAL.replace("\"main\"", "\"bot\"").replace("k1", "k2")));
        assert_eq!(e, "state.toml:18: duplicate user_id 1001 (first at line 4)");
        let e = error(&format!(
            "{MINIMAL}  [[account.wallet]]\n  type = \"exchange\"\n  currency = \"BTC\"\n  balance = \"1\"\n  unsettled_interest = \"0\"\n"
        ));
        assert_eq!(e, "state.toml:17: duplicate exchange wallet for BTC (first at line 12)");
        // TOML itself refuses a key given twice in one table.
        let e = error("platform_status = 1\nplatform_status = 0\n");
        assert_eq!(e, "state.toml:2: duplicate key `platform_status`");
    }

    #[test]
    fn permissions_must_be_known_values() {
        let e = error(&MINIMAL.replace("wallets = \"r\"", "wallets = \"read\""));
        assert_eq!(e, "state.toml:9: permission wallets = \"read\" is not one of \"\", \"r\", \"w\", \"rw\"");
    }

    #[test]
    fn ticker_rows_are_checked() {
        let ten = r#"["1", "2", "3", "4", "5", "-0.0081", "7", "8", "9", "null"]"#;
        let ok =
            SimState::from_toml(&format!("[[ticker]]\nsymbol = \"tBTCUSD\"\nrow = {ten}\n"), "s").unwrap();
        assert_eq!(ok.tickers[0].fields[9], "null");
        let e = error(&format!("[[ticker]]\nsymbol = \"fUSD\"\nrow = {ten}\n"));
        assert_eq!(
            e,
            "state.toml:3: ticker \"fUSD\" row has 10 fields; a funding row has 16 after the symbol"
        );
        let e = error("[[ticker]]\nsymbol = \"tBTCUSD\"\nrow = [\n  \"1\",\n  \"2\"]\n");
        assert_eq!(
            e,
            "state.toml:3: ticker \"tBTCUSD\" row has 2 fields; a trading row has 10 after the symbol"
        );
        let e =
            error(&format!("[[ticker]]\nsymbol = \"tBTCUSD\"\nrow = {}\n", ten.replace("\"7\"", "\"NaN\"")));
        assert_eq!(e, "state.toml:3: ticker field: \"NaN\" is not a JSON number");
        let e = error(&format!("[[ticker]]\nsymbol = \"BTCUSD\"\nrow = {ten}\n"));
        assert_eq!(e, "state.toml:2: ticker symbol \"BTCUSD\" must start with t (trading) or f (funding)");
        let e = error(&format!(
            "[[ticker]]\nsymbol = \"tX\"\nrow = {ten}\n[[ticker]]\nsymbol = \"tX\"\nrow = {ten}\n"
        ));
        assert_eq!(e, "state.toml:5: duplicate ticker \"tX\" (first at line 2)");
    }

    #[test]
    fn limits_are_checked() {
        let e = error("[limits]\nper_minute = { wallets = 3 }\n");
        assert!(
            e.starts_with("state.toml:2: unknown endpoint \"wallets\" in per_minute; known: auth/r/wallets,"),
            "{e}"
        );
        assert_eq!(
            error("[limits]\nwindow_secs = 0\n"),
            "state.toml:2: window_secs must be a whole number of seconds, at least 1"
        );
        assert_eq!(
            error("platform_status = 2\n"),
            "state.toml:1: platform_status must be 1 (operative) or 0 (maintenance), found 2"
        );
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let e = error("platform_status = 1\n[[account]\n");
        assert!(e.starts_with("state.toml:2: "), "{e}");
    }

    #[test]
    fn load_reads_a_file_and_names_it() {
        let missing = Path::new("/nonexistent/bfx-sim-state.toml");
        let e = SimState::load(missing).unwrap_err();
        assert!(matches!(e, StateError::Read { .. }));
        assert!(
            e.to_string().starts_with("/nonexistent/bfx-sim-state.toml: cannot read the state file: "),
            "{e}"
        );
    }
}
