//! `bfx`: read Bitfinex balances, exactly.
//!
//! `main` parses the arguments, resolves settings, runs one command, prints its result once and
//! maps failures to the documented exit codes (README "Exit codes"). Every decision that is not
//! presentation lives in the library crates.

mod balances;
mod cli;
mod client;
mod config;
mod console;
mod exit;
mod history;
mod keys;
mod output;
mod report;
mod serve;
mod sim;
mod table;
mod ticker;
mod watch;

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

use bfx_core::portfolio::Valuation;

use crate::balances::Presentation;
use crate::cli::{Cli, Command, ConfigCommand, KeysCommand};
use crate::config::{ConfigError, Overrides, Settings};
use crate::exit::Exit;
use crate::output::{Format, write_stderr, write_stdout};

/// Set when any thread or task panicked: a run with a panic is never reported as a success, even
/// where the panic was caught (Tokio catches a task's panic and carries on).
static PANICKED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        report(info);
    }));
    bfx_client::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Unexpected.into();
        }
    };
    let result = runtime.block_on(run(cli));
    if PANICKED.load(Ordering::SeqCst) {
        let _ = writeln!(io::stderr(), "error: internal error: a task panicked (a bug; please report it)");
        return Exit::Unexpected.into();
    }
    match result {
        Ok(exit) => exit.into(),
        Err(error) => {
            if is_broken_pipe(&error) {
                return Exit::Ok.into();
            }
            let code =
                if error.downcast_ref::<ConfigError>().is_some() { Exit::Usage } else { Exit::Unexpected };
            // `{:#}` prints the cause chain on one line.
            let _ = writeln!(io::stderr(), "error: {}", output::terminal_safe(&format!("{error:#}")));
            code.into()
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let env: HashMap<String, String> = std::env::vars().collect();
    match cli.command {
        Command::Balances(args) => {
            let (accounts, client) = open(args.connect, &args.accounts, &env)?;
            let (valuation, presentation) = report_settings(&args.report);
            balances::run(&client, &accounts, &valuation, &presentation).await
        }
        Command::Demo(args) => {
            let demo = sim::Demo::start().await?;
            let exit = match args.command {
                None => match config::select(&demo.accounts, &args.accounts) {
                    Ok(accounts) => {
                        let (valuation, presentation) = report_settings(&args.report);
                        balances::run(&demo.client, &accounts, &valuation, &presentation).await
                    }
                    Err(e) => Err(e.into()),
                },
                Some(cli::DemoCommand::History(command)) => history::demo(command, &demo, &env).await,
                Some(cli::DemoCommand::Watch(watch)) => {
                    let mover = tokio::spawn(sim::move_balances(demo.url.clone()));
                    let valuation = valuation(&watch.valuation, false);
                    let options = bfx_client::StreamOptions::default();
                    let exit =
                        watch::run(&demo.client, demo.accounts.clone(), options, watch.json, &valuation)
                            .await;
                    mover.abort();
                    exit
                }
                Some(cli::DemoCommand::Serve(args)) => demo_serve(args, &demo, &env).await,
            };
            demo.stop().await;
            exit
        }
        Command::Config(command) => config_command(command, &env),
        Command::History(command) => history::run(command, &env).await,
        Command::Watch(args) => {
            let (accounts, client) = open(args.connect, &args.accounts, &env)?;
            let options = bfx_client::StreamOptions {
                poll_interval: std::time::Duration::from_secs(args.poll_interval),
                ..bfx_client::StreamOptions::default()
            };
            watch::run(&client, accounts, options, args.json, &valuation(&args.valuation, false)).await
        }
        Command::Serve(args) => {
            let (settings, accounts, client) = open_with_settings(args.connect, &args.accounts, &env)?;
            let token = serve_token(&env, settings.serve_token_file.as_deref())?;
            let listen = serve::Listen { address: args.listen.listen, token };
            let options = bfx_client::StreamOptions {
                poll_interval: std::time::Duration::from_secs(args.poll_interval),
                ..bfx_client::StreamOptions::default()
            };
            let valuation = valuation(&args.valuation, false);
            // Opened once, before anything is served: a store that cannot be had fails the start.
            let snapshots = match args.snapshots.snapshot_every {
                None => None,
                Some(every) => match history::open(&settings.store.location()?).await {
                    Ok(store) => Some(serve::Snapshots { every, store, temporary: false }),
                    Err(exit) => return Ok(exit),
                },
            };
            let shutdown = sim::shutdown_signal();
            serve::run(&client, accounts, options, &valuation, listen, snapshots, shutdown).await
        }
        Command::Keys(KeysCommand::Check { accounts, json, connect }) => {
            let (accounts, client) = open(connect, &accounts, &env)?;
            let reports = keys::check(&client, accounts).await;
            let (table, warnings) = keys::render(&reports);
            match json {
                true => write_stdout(&format!("{}\n", serde_json::to_string_pretty(&reports)?))?,
                false => write_stdout(&table)?,
            }
            write_stderr(&warnings);
            Ok(keys::exit_code(&reports))
        }
        Command::Ticker(args) => {
            let settings = Settings::resolve(&Overrides::from(args.connect), &env, default_config_path())?;
            let coins = match args.symbols.is_empty() {
                true => ticker::seed_coins(),
                false => args.symbols.iter().map(|s| ticker::resolve(s)).collect(),
            };
            let client = client::build(settings.endpoints, &settings.network)?;
            let entries = ticker::fetch(&client, &coins).await?;
            let text = if args.json {
                format!("{}\n", serde_json::to_string_pretty(&entries)?)
            } else {
                let no_color = env.get("NO_COLOR").map(String::as_str);
                ticker::render(&entries, args.color.enabled(io::stdout().is_terminal(), no_color))
            };
            write_stdout(&text)?;
            Ok(Exit::Ok)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "bfx", &mut buffer);
            write_stdout(&String::from_utf8_lossy(&buffer))?;
            Ok(Exit::Ok)
        }
        Command::Sim(args) if args.print_demo_state => {
            write_stdout(bfx_sim::DEMO_STATE_TOML)?;
            Ok(Exit::Ok)
        }
        Command::Sim(args) => sim::serve(&args.listen, args.state.as_deref()).await,
    }
}

/// `bfx demo serve`: snapshots, if asked for, go into a store in a temporary directory (removed
/// when done), never into the user's history.
async fn demo_serve(
    args: cli::DemoServeArgs,
    demo: &sim::Demo,
    env: &HashMap<String, String>,
) -> anyhow::Result<Exit> {
    let listen = serve::Listen { address: args.listen.listen, token: serve_token(env, None)? };
    let (snapshots, _dir) = match args.snapshots.snapshot_every {
        None => (None, None),
        Some(every) => {
            let dir = tempfile::Builder::new().prefix("bfx-demo-serve-").tempdir()?;
            match history::open(&bfx_store::Location::Sqlite(dir.path().join("history.sqlite"))).await {
                Ok(store) => (Some(serve::Snapshots { every, store, temporary: true }), Some(dir)),
                Err(exit) => return Ok(exit),
            }
        }
    };
    let mover = match args.still {
        true => tokio::spawn(async {}),
        false => tokio::spawn(sim::move_balances(demo.url.clone())),
    };
    let options = bfx_client::StreamOptions::default();
    let valuation = valuation(&args.valuation, false);
    let shutdown = sim::shutdown_signal();
    let exit =
        serve::run(&demo.client, demo.accounts.clone(), options, &valuation, listen, snapshots, shutdown)
            .await;
    mover.abort();
    exit
}

/// The selected accounts (all configured ones when `names` is empty) and a client for them, from
/// the config file, the environment and the flags.
fn open(
    connect: cli::ConnectArgs,
    names: &[String],
    env: &HashMap<String, String>,
) -> anyhow::Result<(Vec<config::Account>, bfx_client::Client)> {
    let (_, accounts, client) = open_with_settings(connect, names, env)?;
    Ok((accounts, client))
}

/// [`open`], with the settings it resolved (for the history store's location).
fn open_with_settings(
    connect: cli::ConnectArgs,
    names: &[String],
    env: &HashMap<String, String>,
) -> anyhow::Result<(Settings, Vec<config::Account>, bfx_client::Client)> {
    let settings = Settings::resolve(&Overrides::from(connect), env, default_config_path())?;
    let accounts = settings.select(names)?;
    for (first, second) in config::same_key(&accounts) {
        write_stderr(&format!(
            "warning: accounts {first:?} and {second:?} use the same API key: the same account, read (and counted) twice\n"
        ));
    }
    let client = client::build(settings.endpoints.clone(), &settings.network)?;
    Ok((settings, accounts, client))
}

/// `bfx serve`'s bearer token: `BFX_SERVE_TOKEN`, else the `[serve] token_file` (private, like a
/// secret file); never a flag.
fn serve_token(
    env: &HashMap<String, String>,
    token_file: Option<&std::path::Path>,
) -> Result<Option<secrecy::SecretString>, ConfigError> {
    if let Some(token) = env.get("BFX_SERVE_TOKEN").filter(|t| !t.is_empty()) {
        return Ok(Some(secrecy::SecretString::from(token.clone())));
    }
    token_file
        .map(|path| {
            config::read_secret_file(path)
                .map_err(|e| ConfigError::Invalid(format!("[serve] token_file: {e}")))
        })
        .transpose()
}

/// What to value in, from the flags.
fn valuation(args: &cli::ValuationArgs, include_paper: bool) -> Valuation {
    Valuation { quote: args.quote.to_ascii_uppercase(), kind: args.price, include_paper }
}

/// What to value in and how to show it, from the report flags.
fn report_settings(args: &cli::ReportArgs) -> (Valuation, Presentation) {
    let format = match (args.json, args.csv) {
        (true, _) => Format::Json,
        (_, true) => Format::Csv,
        _ => Format::Table,
    };
    let presentation = Presentation { format, view: args.by, hide_dust: args.hide_dust };
    (valuation(&args.valuation, args.include_paper), presentation)
}

fn config_command(command: ConfigCommand, env: &HashMap<String, String>) -> anyhow::Result<Exit> {
    match command {
        ConfigCommand::Init { force, connect } => {
            let overrides = Overrides::from(connect);
            let where_ = config::config_path(&overrides, env, default_config_path());
            let path = where_.path().ok_or_else(|| {
                ConfigError::Invalid("no home directory to put the config file in; use --config FILE".into())
            })?;
            config::write_template(path, force)?;
            write_stdout(&format!(
                "wrote {} (mode 0600); edit it, then run: bfx balances\n",
                path.display()
            ))?;
        }
        ConfigCommand::Show { connect } => {
            let settings = Settings::resolve(&Overrides::from(connect), env, default_config_path())?;
            write_stdout(&settings.describe())?;
        }
        #[cfg(feature = "keyring")]
        ConfigCommand::KeyringSet { account } => {
            let mut line = String::new();
            io::stdin().read_line(&mut line)?;
            let secret = secrecy::SecretString::from(line.trim_end_matches(['\n', '\r']).to_owned());
            config::store_keyring_secret(&account, &secret)?;
            write_stdout(&format!("stored the secret of {account:?} in the OS keyring (bfx/{account})\n"))?;
        }
        ConfigCommand::Path { connect } => {
            let where_ = config::config_path(&Overrides::from(connect), env, default_config_path());
            let path = where_.path().ok_or_else(|| ConfigError::Invalid("no home directory".into()))?;
            write_stdout(&format!("{}\n", path.display()))?;
        }
    }
    Ok(Exit::Ok)
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}

fn default_config_path() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy().ok().map(|s| s.config_dir().join("bfx").join("config.toml"))
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = io::stderr().is_terminal() && !no_color;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| console::Stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}
