//! `bfx sim` (run the emulator until Ctrl-C or SIGTERM) and `bfx demo` (run it in-process on a
//! free loopback port and show the demo accounts' balances through the real client).

use anyhow::Context;
use bfx_client::{Client, Credentials, Endpoints};
use bfx_sim::SimState;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cli::{ReportArgs, SimArgs};
use crate::config::Account;
use crate::exit::Exit;
use crate::{balances, print_report, write_stdout};

pub async fn serve(args: SimArgs) -> anyhow::Result<Exit> {
    if args.print_demo_state {
        write_stdout(bfx_sim::DEMO_STATE_TOML)?;
        return Ok(Exit::Ok);
    }
    let (state, show_keys) = match &args.state {
        Some(path) => (SimState::load(path).map_err(crate::config::ConfigError::from_state)?, false),
        None => (SimState::demo(), true),
    };
    let listener =
        TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // The first line is the contract scripts wait for (see peers/run).
    let mut banner = format!("listening on http://{addr}\n");
    banner.push_str(&format!("  REST       http://{addr}/v2/…  (BFX_API_URL=http://{addr})\n"));
    if show_keys {
        banner.push_str("demo keys (public test keys of the built-in demo state):\n");
        for key in state.keys() {
            banner.push_str(&format!(
                "  {:<6} key {:<10} secret {:<17} {}\n",
                key.account, key.key, key.secret, key.permissions
            ));
        }
    }
    banner.push_str(&format!(
        "  admin      http://{addr}/sim/…  ({})\n",
        match std::env::var_os("BFX_SIM_ADMIN_TOKEN").is_some_and(|t| !t.is_empty()) {
            true => "Bearer token from BFX_SIM_ADMIN_TOKEN",
            false => "loopback only",
        }
    ));
    banner.push_str("Ctrl-C stops the emulator.\n");
    write_stdout(&banner)?;
    // A token is a secret: from the environment only, never a flag (shell history, `ps`).
    let mut options = bfx_sim::SimOptions::default();
    if let Some(token) = std::env::var("BFX_SIM_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()) {
        options = options.with_admin_token(token);
    }
    bfx_sim::serve_with(listener, state, options, shutdown_signal()).await.context("emulator failed")?;
    Ok(Exit::Ok)
}

/// Ctrl-C, or SIGTERM on Unix (what scripts and service managers send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn demo(args: &ReportArgs) -> anyhow::Result<Exit> {
    let state = SimState::demo();
    let accounts: Vec<Account> = state
        .keys()
        .into_iter()
        .map(|k| Account {
            credentials: Credentials::new(k.key, SecretString::from(k.secret)),
            secret_source: format!("the demo state's secret for {}", k.account),
            name: k.account,
        })
        .collect();
    let listener =
        TcpListener::bind("127.0.0.1:0").await.context("cannot bind a loopback port for the emulator")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(bfx_sim::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    eprintln!("bfx demo: built-in emulator at {url} (demo state, no network, no config)");
    // A fresh emulator every run: its nonces need not outlive it.
    let client = Client::builder().endpoints(Endpoints::single(&url)?).in_memory_nonces().build()?;
    let report = balances::fetch(&client, accounts, args).await;
    let _ = stop.send(());
    let _ = server.await;
    print_report(report?, args)
}
