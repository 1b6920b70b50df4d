//! The full-screen loop: raw mode and the alternate screen for as long as it runs (restored on
//! every exit, error and panic included), a redraw on each event and once a second, prices fetched
//! every 10 s and the pairs that value what is held followed live. `q`, Esc or Ctrl-C quits.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bfx_client::{Client, StreamEvent, StreamOptions};
use bfx_core::portfolio::Valuation;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc;

use super::tui::{Clock, draw};
use crate::config::Account;
use crate::console;
use crate::exit::Exit;
use bfx_client::live::Model;

/// Runs the full-screen view until the user quits. Exit 3 when every account had failed for good;
/// an unknown quote is refused before the view opens (when the first prices come in time).
pub async fn run(
    client: &Client,
    accounts: Vec<Account>,
    options: StreamOptions,
    valuation: &Valuation,
) -> anyhow::Result<Exit> {
    let mut model = Model::new(&valuation.quote, valuation.kind, accounts.iter().map(|a| a.name.clone()));
    let mut prices = bfx_client::feeds::price_refresh(client.clone());
    super::first_prices(&mut prices, &mut model).await?;
    let mut tickers = client.ticker_stream(BTreeSet::new(), options.clone());
    let sources = super::SecretSources::new(&accounts);
    let readers = accounts.iter().map(Account::reader).collect();
    let mut events = Some(bfx_client::feeds::account_streams(client, readers, options));
    let mut input = spawn_input();
    let mut screen = Screen::enter()?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        if let Some(pairs) = model.follow() {
            tickers.set_symbols(pairs);
        }
        screen.terminal.draw(|frame| draw(frame, &model, &sources, &clock()))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            key = input.recv() => match key {
                Some(Input::Quit) | None => break,
                Some(Input::Redraw) => {}
            },
            next = next_event(&mut events) => match next {
                Some((account, event)) => model.apply(&account, event, Instant::now()),
                // Every stream has ended (failed for good): keep showing why until `q`.
                None => events = None,
            },
            Some((market, at)) = prices.recv() => model.set_market(market, at),
            Some(event) = tickers.next_event() => model.apply_ticker(event),
            _ = tick.tick() => {}
        }
    }
    drop(screen);
    tickers.close().await;
    Ok(if model.all_failed() { Exit::Auth } else { Exit::Ok })
}

/// Raw mode and the alternate screen, left when dropped (on `?` as well as on return); a panic
/// is handled by the hook `ratatui::try_init` installs. Logs and wait notices are held meanwhile
/// and printed once the normal screen is back.
struct Screen {
    terminal: DefaultTerminal,
}

impl Screen {
    fn enter() -> anyhow::Result<Screen> {
        match ratatui::try_init() {
            Ok(terminal) => {
                console::hold();
                Ok(Screen { terminal })
            }
            Err(e) => {
                ratatui::restore();
                Err(anyhow::Error::new(e)
                    .context("cannot set up the terminal for the full-screen view (try --json)"))
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
        console::release();
    }
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Screen")
    }
}

async fn next_event(
    events: &mut Option<mpsc::Receiver<(String, StreamEvent)>>,
) -> Option<(String, StreamEvent)> {
    match events {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn clock() -> Clock {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    Clock { at: Instant::now(), clock: format!("{:02}:{:02}:{:02} UTC", day / 3600, day / 60 % 60, day % 60) }
}

#[derive(Debug)]
enum Input {
    Quit,
    /// A resize, or any key that is not a command.
    Redraw,
}

/// Reads the terminal on a thread (crossterm's reads block); ends once the loop has gone.
fn spawn_input() -> mpsc::UnboundedReceiver<Input> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while !sender.is_closed() {
            match event::poll(Duration::from_millis(200)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => break,
            }
            let input = match event::read() {
                Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => Input::Quit,
                    // Raw mode turns Ctrl-C into a key, not SIGINT.
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Input::Quit,
                    _ => Input::Redraw,
                },
                Ok(_) => Input::Redraw,
                Err(_) => Input::Quit,
            };
            if sender.send(input).is_err() {
                break;
            }
        }
    });
    receiver
}
