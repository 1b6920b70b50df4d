//! The benchmark emulator state: the demo state (its tickers, currencies and accounts), plus one
//! copy of the demo account `main` per benchmark key, so every client times the same job with a
//! key of its own (nonce units differ: ccxt signs in milliseconds, bfx in microseconds).

use anyhow::Context;
use toml::{Table, Value};

/// Endpoints whose budgets `unlimited` lifts (`[limits] per_minute` in a state file).
const ENDPOINTS: &[&str] = &[
    "auth/r/wallets",
    "auth/r/permissions",
    "auth/r/info/user",
    "auth/r/positions",
    "tickers",
    "ticker",
    "conf",
    "platform/status",
];

/// The state as TOML. Key `K` gets account `K` with `main`'s wallets and secret `K-secret`.
pub fn bench_state(keys: &[String], unlimited: bool) -> anyhow::Result<String> {
    let mut state: Table = bfx_sim::DEMO_STATE_TOML.parse().context("the demo state does not parse")?;
    let accounts =
        state.get_mut("account").and_then(Value::as_array_mut).context("the demo state has no accounts")?;
    let main = accounts
        .iter()
        .find(|a| a.get("name").and_then(Value::as_str) == Some("main"))
        .cloned()
        .context("the demo state has no account `main`")?;
    for (i, key) in keys.iter().enumerate() {
        let mut account = main.clone();
        let table = account.as_table_mut().context("account `main` is not a table")?;
        table.insert("name".into(), key.as_str().into());
        table.insert("user_id".into(), Value::Integer(900_000 + i64::try_from(i)?));
        table.insert("email".into(), format!("{key}@bench.invalid").into());
        let permissions: Table = [("account", "r"), ("wallets", "r")]
            .into_iter()
            .map(|(scope, access)| (scope.to_owned(), Value::from(access)))
            .collect();
        let credentials: Table = [
            ("key".to_owned(), Value::from(key.as_str())),
            ("secret".to_owned(), Value::from(format!("{key}-secret"))),
            ("permissions".to_owned(), Value::Table(permissions)),
        ]
        .into_iter()
        .collect();
        table.insert("key".into(), Value::Array(vec![Value::Table(credentials)]));
        accounts.push(account);
    }
    if unlimited {
        let budgets: Table =
            ENDPOINTS.iter().map(|e| ((*e).to_owned(), Value::Integer(i64::from(u32::MAX)))).collect();
        let limits: Table = [("per_minute".to_owned(), Value::Table(budgets))].into_iter().collect();
        state.insert("limits".into(), Value::Table(limits));
    }
    Ok(toml::to_string(&state)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_keys_read_mains_wallets() {
        let text = bench_state(&["bench-a".to_owned(), "bench-b".to_owned()], true).unwrap();
        let state = bfx_sim::SimState::from_toml(&text, "bench").unwrap();
        let keys = state.keys();
        let key = keys.iter().find(|k| k.key == "bench-b").unwrap();
        assert_eq!((key.account.as_str(), key.secret.as_str()), ("bench-b", "bench-b-secret"));
        let parsed: Table = text.parse().unwrap();
        let accounts = parsed["account"].as_array().unwrap();
        let wallets = |name: &str| {
            accounts.iter().find(|a| a["name"].as_str() == Some(name)).unwrap()["wallet"].clone()
        };
        assert_eq!(wallets("bench-a"), wallets("main"));
        assert_eq!(parsed["limits"]["per_minute"]["auth/r/wallets"].as_integer(), Some(i64::from(u32::MAX)));
        assert!(!bench_state(&[], false).unwrap().contains("[limits]"));
    }
}
