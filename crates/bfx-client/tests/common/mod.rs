//! Helpers shared by the client's integration tests: the in-process emulator on a state given as
//! TOML text, its admin API (faults, counters), and emulator states with many accounts.
#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod fake_ws;

use bfx_client::Credentials;
use bfx_sim::SimState;
use secrecy::SecretString;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The shared test state (keep its keys and accounts unchanged: other crates' tests use them).
pub const STATE: &str = include_str!("../../../../testdata/state.toml");

pub struct Sim {
    pub url: String,
    _stop: oneshot::Sender<()>,
}

/// The emulator on `state` (TOML), listening on a fresh loopback port.
pub async fn sim_with(state: &str) -> Sim {
    bfx_client::install_crypto_provider();
    let state = SimState::from_toml(state, "test state").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(bfx_sim::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Sim { url, _stop: stop }
}

pub fn creds(key: &str, secret: &str) -> Credentials {
    Credentials::new(key, SecretString::from(secret.to_owned()))
}

/// `GET /sim/counters`.
pub async fn counters(url: &str) -> Value {
    let response = reqwest::Client::new().get(format!("{url}/sim/counters")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// `POST /sim/faults` with `order` (e.g. `{"endpoint":"auth/r/wallets","kind":"drop"}`).
pub async fn add_fault(url: &str, order: &str) {
    let response =
        reqwest::Client::new().post(format!("{url}/sim/faults")).body(order.to_owned()).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

/// A state with `limits` (a `[limits]` table) and `n` accounts `acct0…`, keys `acct{i}-key`,
/// secrets `acct{i}-secret`, each with one exchange BTC wallet holding `i`.
pub fn accounts_state(limits: &str, n: usize) -> String {
    let mut state = format!("platform_status = 1\n{limits}\n");
    for i in 0..n {
        state += &format!(
            "[[account]]\nname = \"acct{i}\"\nuser_id = {}\nemail = \"acct{i}@example.com\"\n\
             [[account.key]]\nkey = \"acct{i}-key\"\nsecret = \"acct{i}-secret\"\npermissions = {{ wallets = \"r\" }}\n\
             [[account.wallet]]\ntype = \"exchange\"\ncurrency = \"BTC\"\nbalance = \"{i}\"\nunsettled_interest = \"0\"\n",
            3000 + i
        );
    }
    state
}
