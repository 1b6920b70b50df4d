//! Test helpers shared by the CLI test files: the emulator on its own thread, and the `bfx`
//! binary with a fresh HOME.
#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::net::SocketAddr;
use std::path::Path;

use assert_cmd::Command;
use bfx_sim::SimState;

pub const STATE: &str = include_str!("../../../../testdata/state.toml");

/// An emulator on its own thread and runtime, stopped when dropped.
pub struct Sim {
    pub url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn sim() -> Sim {
    sim_with(STATE)
}

pub fn sim_with(state: &str) -> Sim {
    sim_on(state, "127.0.0.1:0")
}

/// The emulator on `addr`: a port just freed by a stopped one (an exchange restart) may take a
/// moment to be free again, so binding is retried for up to 10 s.
pub fn sim_on(state: &str, addr: &str) -> Sim {
    let state = SimState::from_toml(state, "test state").unwrap();
    let addr = addr.to_owned();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let listener = loop {
                match tokio::net::TcpListener::bind(&addr).await {
                    Ok(listener) => break listener,
                    Err(e) if std::time::Instant::now() < deadline => {
                        let _ = e;
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("cannot bind {addr}: {e}"),
                }
            };
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            bfx_sim::serve(listener, state, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    Sim { url: format!("http://{}", addr_rx.recv().unwrap()), _stop: stop }
}

/// `bfx` with a fresh HOME and config dir, and none of the caller's BFX_* settings.
pub fn bfx(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("bfx").unwrap();
    cmd.env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1");
    cmd
}

pub fn bfx_env(home: &Path, url: &str, key: &str, secret: &str) -> Command {
    let mut cmd = bfx(home);
    cmd.env("BFX_API_URL", url).env("BFX_API_KEY", key).env("BFX_API_SECRET", secret);
    cmd
}

/// `bfx` as alice (`alice-key`, the state files' test key), against `url`, with the history
/// store at `store` (a path or a URL).
pub fn alice(home: &Path, url: &str, store: &str) -> Command {
    let mut cmd = bfx_env(home, url, "alice-key", "alice-secret");
    cmd.env("BFX_STORE_URL", store);
    cmd
}

/// Runs and returns (exit code, stdout, stderr); never a panic in stderr.
pub fn run(mut cmd: Command, args: &[&str]) -> (i32, String, String) {
    let out = cmd.args(args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

pub fn write_private(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Calls the emulator's admin API (`/sim/…`) and returns the response body; panics unless 200.
pub fn admin(sim_url: &str, method: &str, path: &str, json: &str) -> String {
    use std::io::{Read, Write};
    let addr = sim_url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}\n{body}");
    body.to_owned()
}
