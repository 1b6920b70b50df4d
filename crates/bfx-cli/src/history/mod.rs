//! `bfx history …`: the ledger kept in the store (`bfx_store`), and the questions answered from
//! it. This module resolves settings, opens the store and dispatches; `sync` and `check` talk to
//! the exchange, `answers` and `export` read only the store. Every computation is a
//! `bfx_store::history` call; what is here is presentation.

mod answers;
mod chart;
mod check;
mod export;
mod sync;
mod value;

use std::collections::HashMap;
use std::path::PathBuf;

use bfx_store::history::{Edge, parse_when};
use bfx_store::{Location, Store, StoreError};

use crate::cli::{HistoryCommand, HistoryOutput};
use crate::config::{self, Account, ConfigError, Overrides, Settings};
use crate::exit::Exit;
use crate::output::{Format, terminal_safe, write_stderr};
use crate::sim::Demo;

/// `bfx history …` with the configured accounts and store.
pub async fn run(command: HistoryCommand, env: &HashMap<String, String>) -> anyhow::Result<Exit> {
    match command {
        HistoryCommand::Sync(args) => {
            let since = args.since.as_deref().map(|s| when(s, Edge::Start)).transpose()?;
            let (settings, accounts, client) = crate::open_with_settings(args.connect, &args.accounts, env)?;
            let store = match open(&settings.store.location()?).await {
                Ok(store) => store,
                Err(exit) => return Ok(exit),
            };
            write_stderr(&format!("bfx: history store: {}\n", settings.store.describe()));
            sync::run(&client, &accounts, &store, since, true).await
        }
        HistoryCommand::Value(args) => {
            let (ask, format) = (value_ask(&args.value)?, format(args.json, args.csv, Format::Table));
            let (client, store) = match value_open(args.value.connect, env).await? {
                Ok(opened) => opened,
                Err(exit) => return Ok(exit),
            };
            value::run(&client, &store, ask, format, sync::now_ms()).await
        }
        HistoryCommand::Chart(args) => {
            // The file and the font checked before anything is fetched.
            let (ask, draw) = (value_ask(&args.value)?, chart::Draw::parse(&args, env)?);
            let (client, store) = match value_open(args.value.connect, env).await? {
                Ok(opened) => opened,
                Err(exit) => return Ok(exit),
            };
            chart::run(&client, &store, ask, draw, sync::now_ms()).await
        }
        HistoryCommand::Check(args) => {
            let format = format(args.json, args.csv, Format::Table);
            let (settings, accounts, client) = crate::open_with_settings(args.connect, &args.accounts, env)?;
            let store = match open(&settings.store.location()?).await {
                Ok(store) => store,
                Err(exit) => return Ok(exit),
            };
            check::run(&client, &accounts, &store, format).await
        }
        query => {
            let settings = Settings::resolve(
                &Overrides { config: config_flag(&query), ..Overrides::default() },
                env,
                crate::default_config_path(),
            )?;
            let store = match open(&settings.store.location()?).await {
                Ok(store) => store,
                Err(exit) => return Ok(exit),
            };
            answer(query, &store).await
        }
    }
}

/// `bfx demo history …`: every demo account synced into a store in a temporary directory (removed
/// when done), then the command run against it.
pub async fn demo(
    command: HistoryCommand,
    demo: &Demo,
    env: &HashMap<String, String>,
) -> anyhow::Result<Exit> {
    // Usage errors before the demo's sync.
    let draw = match &command {
        HistoryCommand::Chart(args) => Some(chart::Draw::parse(args, env)?),
        _ => None,
    };
    let dir = tempfile::Builder::new().prefix("bfx-demo-history-").tempdir()?;
    let store = match open(&Location::Sqlite(dir.path().join("history.sqlite"))).await {
        Ok(store) => store,
        Err(exit) => return Ok(exit),
    };
    let show_summary = matches!(command, HistoryCommand::Sync(_));
    let synced = sync::run(&demo.client, &demo.accounts, &store, None, show_summary).await?;
    let exit = match command {
        _ if synced != Exit::Ok => synced,
        HistoryCommand::Sync(_) => synced,
        HistoryCommand::Value(args) => {
            let (ask, format) = (value_ask(&args.value)?, format(args.json, args.csv, Format::Table));
            value::run(&demo.client, &store, ask, format, sync::now_ms()).await?
        }
        HistoryCommand::Chart(args) => match draw {
            Some(draw) => {
                chart::run(&demo.client, &store, value_ask(&args.value)?, draw, sync::now_ms()).await?
            }
            None => Exit::Unexpected,
        },
        HistoryCommand::Check(args) => {
            let accounts = config::select(&demo.accounts, &args.accounts)?;
            check::run(&demo.client, &accounts, &store, format(args.json, args.csv, Format::Table)).await?
        }
        query => answer(query, &store).await?,
    };
    store.close().await;
    drop(dir);
    Ok(exit)
}

/// The questions answered from the store alone.
async fn answer(command: HistoryCommand, store: &Store) -> anyhow::Result<Exit> {
    match command {
        HistoryCommand::Balances(args) => {
            let at = when(&args.at, Edge::End)?;
            answers::balances(store, &args.output.accounts, at, output_format(&args.output)).await
        }
        HistoryCommand::Earnings(args) => {
            let range = answers::Range::parse(&args.range)?;
            answers::earnings(store, &args.output.accounts, range, args.by, output_format(&args.output)).await
        }
        HistoryCommand::Fees(args) => {
            let range = answers::Range::parse(&args.range)?;
            answers::fees(store, &args.output.accounts, range, output_format(&args.output)).await
        }
        HistoryCommand::Flows(args) => {
            let range = answers::Range::parse(&args.range)?;
            answers::flows(store, &args.output.accounts, range, output_format(&args.output)).await
        }
        HistoryCommand::Export(args) => {
            let range = answers::Range::parse(&args.range)?;
            export::run(store, &args.accounts, range, format(args.json, args.csv, Format::Csv)).await
        }
        HistoryCommand::Sync(_)
        | HistoryCommand::Check(_)
        | HistoryCommand::Value(_)
        | HistoryCommand::Chart(_) => Err(anyhow::anyhow!(
            "internal error: sync, check, value and chart are not answered from the store alone"
        )),
    }
}

fn config_flag(command: &HistoryCommand) -> Option<PathBuf> {
    match command {
        HistoryCommand::Balances(a) => a.output.config.clone(),
        HistoryCommand::Earnings(a) => a.output.config.clone(),
        HistoryCommand::Fees(a) | HistoryCommand::Flows(a) => a.output.config.clone(),
        HistoryCommand::Export(a) => a.config.clone(),
        HistoryCommand::Sync(a) => a.connect.config.clone(),
        HistoryCommand::Check(a) => a.connect.config.clone(),
        HistoryCommand::Value(a) => a.value.connect.config.clone(),
        HistoryCommand::Chart(a) => a.value.connect.config.clone(),
    }
}

/// `bfx history value`'s and `chart`'s arguments, checked.
fn value_ask(args: &crate::cli::ValueOptions) -> Result<value::Ask, ConfigError> {
    Ok(value::Ask {
        accounts: args.accounts.clone(),
        range: answers::Range::parse(&args.range)?,
        step: args.every.into(),
        quote: args.quote.to_uppercase(),
    })
}

/// The client and store `value` and `chart` use: public endpoints only, no account's secret.
async fn value_open(
    connect: crate::cli::ConnectArgs,
    env: &HashMap<String, String>,
) -> anyhow::Result<Result<(bfx_client::Client, Store), Exit>> {
    let settings = Settings::resolve(&Overrides::from(connect), env, crate::default_config_path())?;
    let client = crate::client::build(settings.endpoints.clone(), &settings.network)?;
    Ok(open(&settings.store.location()?).await.map(|store| (client, store)))
}

fn format(json: bool, csv: bool, default: Format) -> Format {
    match (json, csv) {
        (true, _) => Format::Json,
        (_, true) => Format::Csv,
        _ => default,
    }
}

fn output_format(output: &HistoryOutput) -> Format {
    format(output.json, output.csv, Format::Table)
}

/// A moment a user gave; a wrong one is a usage error (exit 2).
fn when(text: &str, edge: Edge) -> Result<i64, ConfigError> {
    parse_when(text, edge).map_err(ConfigError::Invalid)
}

/// Opens the store, or says why not and with which exit code (`bfx serve --snapshot-every` too).
pub(crate) async fn open(location: &Location) -> Result<Store, Exit> {
    Store::open(location).await.map_err(|e| {
        write_stderr(&format!("error: {}\n", terminal_safe(&e.to_string())));
        store_exit(&e)
    })
}

/// The exit code for a store failure: a wrong location is the user's to fix (2); a database that
/// cannot be reached or is locked by another sync is "try again" (4).
pub fn store_exit(error: &StoreError) -> Exit {
    match error {
        StoreError::BadLocation { .. } | StoreError::NoDataDir => Exit::Usage,
        StoreError::Open { .. } | StoreError::Locked { .. } | StoreError::LockFile { .. } => {
            Exit::Unavailable
        }
        _ => Exit::Unexpected,
    }
}

/// The accounts a question is about: those named, else every account in the store.
async fn accounts_of(store: &Store, named: &[String]) -> Result<Vec<String>, StoreError> {
    if !named.is_empty() {
        let mut seen = std::collections::HashSet::new();
        return Ok(named.iter().filter(|n| seen.insert(n.as_str())).cloned().collect());
    }
    store.account_names().await
}

/// The client-side account list for sync and check.
fn readers(accounts: &[Account]) -> Vec<bfx_client::Account> {
    accounts.iter().map(Account::reader).collect()
}
