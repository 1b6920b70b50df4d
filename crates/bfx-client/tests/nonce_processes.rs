//! Nonces shared across processes: eight processes, each a copy of this test binary running the
//! ignored `nonce_worker` test, make 50 requests each on one key against one emulator, sharing a
//! nonce directory. The emulator must see 400 requests and not one nonce rejection (the client's
//! one re-sign on `nonce: small` would hide a collision from the workers, not from its counters).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::process::{Command, Stdio};

use bfx_client::{Client, Endpoints, NonceStore, RetryPolicy};
use common::{accounts_state, counters, creds, sim_with};

const WORKERS: usize = 8;
const REQUESTS: usize = 50;
const KEY: &str = "acct0-key";
const SECRET: &str = "acct0-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_share_one_key_without_a_nonce_error() {
    // A budget the 400 requests cannot exhaust: this test is about nonces, not rate limits.
    let sim = sim_with(&accounts_state("[limits]\nper_minute = { \"auth/r/wallets\" = 100000 }", 1)).await;
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WORKERS)
        .map(|_| {
            Command::new(&exe)
                .args(["--ignored", "--exact", "nonce_worker", "--nocapture", "--test-threads=1"])
                .env("BFX_TEST_SIM_URL", &sim.url)
                .env("BFX_TEST_NONCE_DIR", dir.path())
                .env("BFX_TEST_KEY", KEY)
                .env("BFX_TEST_SECRET", SECRET)
                .env("BFX_TEST_COUNT", REQUESTS.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|child| child.wait_with_output().unwrap()).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (i, output) in outputs.iter().enumerate() {
        let (stdout, stderr) =
            (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "worker {i} failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains(&format!("nonce_worker: {REQUESTS} requests ok")), "worker {i}:\n{stdout}");
    }
    let counters = counters(&sim.url).await;
    assert_eq!(counters["requests"]["auth/r/wallets"], WORKERS * REQUESTS);
    assert_eq!(counters["rejections"]["bad_nonce"], 0, "{counters}");

    // One file, named by the key's hash, holding only the last nonce: no key, no secret; beside
    // it, the last lock holder's pid (for "another bfx process (pid N) holds this key's lock").
    let store = NonceStore::new(dir.path());
    let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert_eq!(names, [store.path_for(KEY), store.path_for(KEY).with_extension("pid")]);
    let pid = std::fs::read_to_string(&names[1]).unwrap();
    assert!(pid.parse::<u32>().is_ok(), "{pid:?}");
    let content = std::fs::read_to_string(store.path_for(KEY)).unwrap();
    assert!(content.len() == 16 && content.bytes().all(|b| b.is_ascii_digit()), "{content:?}");
    assert!(!content.contains(SECRET) && !content.contains(KEY));
    assert!(!names[0].to_string_lossy().contains(KEY));
}

#[test]
#[ignore = "worker process of eight_processes_share_one_key_without_a_nonce_error (needs BFX_TEST_* variables)"]
fn nonce_worker() {
    let Ok(url) = std::env::var("BFX_TEST_SIM_URL") else {
        eprintln!(
            "nonce_worker: not started by eight_processes_share_one_key_without_a_nonce_error; nothing to do"
        );
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let count: usize = var("BFX_TEST_COUNT").parse().unwrap();
    let credentials = creds(&var("BFX_TEST_KEY"), &var("BFX_TEST_SECRET"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = Client::builder()
            .endpoints(Endpoints::single(&url).unwrap())
            .nonce_dir(var("BFX_TEST_NONCE_DIR"))
            // Any failure must show: no retries.
            .retry_policy(RetryPolicy::never())
            .build()
            .unwrap();
        for i in 0..count {
            let rows = client.wallets(&credentials).await.unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert_eq!(rows.len(), 1);
        }
    });
    println!("nonce_worker: {count} requests ok");
}
