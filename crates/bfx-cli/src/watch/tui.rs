//! The full-screen view of `bfx watch`: a header with the total, one row per account (state, age
//! of its data, value) and one per asset (changed rows highlighted), and a footer.
//!
//! [`draw`] is pure over the model and the clock, so tests render it into a `TestBackend`; the
//! event loop lives in `watch::screen`.

use std::time::{Duration, Instant};

use bfx_client::StreamState;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use super::model::{AccountValue, Model};
use crate::table;

/// The time to show: `at` for ages and highlights, `clock` (e.g. `12:34:56 UTC`) for the header.
#[derive(Debug, Clone)]
pub struct Clock {
    pub at: Instant,
    pub clock: String,
}

pub fn draw(frame: &mut Frame, model: &Model, now: &Clock) {
    let accounts_height = u16::try_from(model.accounts.len()).unwrap_or(u16::MAX).saturating_add(3);
    let [header, accounts, assets, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(accounts_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let right = format!("quote {}   {} ", model.quote, now.clock);
    let width = u16::try_from(right.chars().count()).unwrap_or(u16::MAX);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(width)]).areas(header);
    frame.render_widget(Paragraph::new(header_line(model, now)), left_area);
    frame.render_widget(Paragraph::new(Line::from(right).right_aligned()), right_area);
    frame.render_widget(accounts_table(model, now.at), accounts);
    frame.render_widget(assets_table(model, now.at, assets.height.saturating_sub(3).into()), assets);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" q", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(
                " quit   values at Bitfinex last prices, refreshed every 10 s; paper and unpriced left out",
            ),
        ])),
        footer,
    );
}

fn header_line(model: &Model, now: &Clock) -> Line<'static> {
    let total = model.grand_total(now.at);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut spans = vec![Span::styled(" bfx watch", bold), Span::raw("   total ")];
    if total.no_prices {
        spans.push(Span::styled("no prices yet", dim()));
    } else {
        let value = format!("{} {}", table::value(&model.quote, total.value), model.quote);
        match total.stale_accounts {
            0 => spans.push(Span::styled(value, bold)),
            n => {
                spans.push(Span::styled(value, dim()));
                spans.push(Span::styled(format!(" stale ({n} account{} not live)", plural(n)), dim()));
            }
        }
    }
    if total.unpriced > 0 {
        spans.push(Span::styled(format!("  +{} unpriced", total.unpriced), dim()));
    }
    Line::from(spans)
}

fn accounts_table(model: &Model, now: Instant) -> Table<'static> {
    let rows = model.accounts.iter().map(|account| {
        let (state, state_style) = state_cell(&account.state);
        let age = account.age(now).map_or_else(|| "-".to_owned(), age_text);
        let value = match model.account_value(account, now) {
            AccountValue::Unknown => Cell::from(Line::from("-").right_aligned()),
            _ if !model.has_prices() => Cell::from(Line::from("no prices").right_aligned()).style(dim()),
            AccountValue::Current { value, unpriced } => {
                Cell::from(Line::from(value_text(&model.quote, value, unpriced)).right_aligned())
            }
            // The AGE column says how old: the value only needs to say it is not current.
            AccountValue::Stale { value, unpriced, .. } => Cell::from(
                Line::from(format!("stale {}", value_text(&model.quote, value, unpriced))).right_aligned(),
            )
            .style(dim()),
        };
        Row::new(vec![
            Cell::from(account.name.clone()),
            Cell::from(state).style(state_style),
            Cell::from(Line::from(age).right_aligned()),
            value,
        ])
    });
    let header = Row::new(vec![
        Cell::from("ACCOUNT"),
        Cell::from("STATE"),
        Cell::from(Line::from("AGE").right_aligned()),
        Cell::from(Line::from(format!("VALUE {}", model.quote)).right_aligned()),
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    Table::new(
        rows,
        [Constraint::Min(10), Constraint::Length(30), Constraint::Length(8), Constraint::Length(34)],
    )
    .header(header)
    .block(Block::bordered().title(" Accounts "))
}

/// The assets, as many as `capacity` rows hold; when some do not fit, the last row says how many
/// are left out and whether any of them changed.
fn assets_table(model: &Model, now: Instant, capacity: usize) -> Table<'static> {
    let mut assets = model.assets(now);
    let hidden = match assets.len() > capacity {
        true => assets.split_off(capacity.saturating_sub(1)),
        false => Vec::new(),
    };
    let mut rows: Vec<Row> = assets
        .into_iter()
        .map(|asset| {
            let value = match asset.value {
                Some(v) => table::value(&model.quote, v),
                None => "unpriced".to_owned(),
            };
            let mut style = Style::new();
            if asset.value.is_none() || asset.stale {
                style = dim();
            }
            if asset.changed {
                style = Style::new().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD);
            }
            let name = match asset.changed {
                true => format!("{} *", asset.name),
                false => asset.name.clone(),
            };
            Row::new(vec![
                Cell::from(name),
                Cell::from(Line::from(table::amount(&asset.currency, asset.balance)).right_aligned()),
                Cell::from(Line::from(value).right_aligned()),
            ])
            .style(style)
        })
        .collect();
    if !hidden.is_empty() {
        let changed = hidden.iter().filter(|a| a.changed).count();
        let more = match changed {
            0 => format!("+{} more", hidden.len()),
            n => format!("+{} more, {n} changed *", hidden.len()),
        };
        let style = if changed > 0 { Style::new().fg(Color::Black).bg(Color::Yellow) } else { dim() };
        rows.push(Row::new(vec![Cell::from(more)]).style(style));
    }
    let header = Row::new(vec![
        Cell::from("ASSET"),
        Cell::from(Line::from("BALANCE").right_aligned()),
        Cell::from(Line::from(format!("VALUE {}", model.quote)).right_aligned()),
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    Table::new(rows, [Constraint::Min(12), Constraint::Length(26), Constraint::Length(20)])
        .header(header)
        .block(Block::bordered().title(" Assets (* changed) "))
}

fn state_cell(state: &StreamState) -> (String, Style) {
    match state {
        StreamState::Connecting => ("connecting".into(), Style::new().fg(Color::Yellow)),
        StreamState::Live => ("live".into(), Style::new().fg(Color::Green)),
        StreamState::Reconnecting { attempt, .. } => {
            (format!("reconnecting (attempt {attempt})"), Style::new().fg(Color::Yellow))
        }
        StreamState::Polling { .. } => ("polling (REST)".into(), Style::new().fg(Color::Cyan)),
        StreamState::Maintenance => ("maintenance".into(), Style::new().fg(Color::Yellow)),
        StreamState::Failed { reason, .. } => (format!("failed: {reason}"), Style::new().fg(Color::Red)),
        _ => ("unknown".into(), Style::new()),
    }
}

/// `83,000.00`, or `0.00 +2 unpriced` when some wallets could not be valued.
fn value_text(quote: &str, value: rust_decimal::Decimal, unpriced: usize) -> String {
    match unpriced {
        0 => table::value(quote, value),
        n => format!("{} +{n} unpriced", table::value(quote, value)),
    }
}

fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `4s`, `2m05s`, `1h02m`.
pub fn age_text(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::model::tests::{market, row};
    use bfx_client::{ErrorKind, StreamEvent};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use std::collections::HashMap;

    fn render(model: &Model, at: Instant) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(100, 20)).unwrap();
        let clock = Clock { at, clock: "12:34:56 UTC".into() };
        terminal.draw(|frame| draw(frame, model, &clock)).unwrap();
        terminal
    }

    /// Two live accounts with BTC, ETH and an unpriced coin, seen at `t0`.
    fn two_accounts(t0: Instant) -> Model {
        let mut model = Model::new("USD", ["main".to_owned(), "cold".to_owned()]);
        model.set_market(market(), HashMap::from([("BTC".to_owned(), "BTC".to_owned())]));
        for name in ["main", "cold"] {
            model.apply(name, StreamEvent::Status(StreamState::Live), t0);
        }
        let main =
            vec![row("exchange", "BTC", "0.75"), row("exchange", "ETH", "2"), row("exchange", "AIO", "10")];
        model.apply("main", StreamEvent::Snapshot { wallets: main }, t0);
        model.apply("cold", StreamEvent::Snapshot { wallets: vec![row("exchange", "BTC", "2.5")] }, t0);
        model
    }

    fn later(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn all_live() {
        let t0 = Instant::now();
        insta::assert_snapshot!(render(&two_accounts(t0), later(t0, 3)).backend());
    }

    #[test]
    fn one_reconnecting_is_stale() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        let reconnecting =
            StreamState::Reconnecting { attempt: 2, after: Duration::from_secs(1), reason: "closed".into() };
        model.apply("cold", StreamEvent::Status(reconnecting), later(t0, 20));
        insta::assert_snapshot!(render(&model, later(t0, 25)).backend());
    }

    #[test]
    fn polling_is_current() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        model.apply("main", StreamEvent::Status(StreamState::Polling { reason: "refused".into() }), t0);
        insta::assert_snapshot!(render(&model, later(t0, 65)).backend());
    }

    #[test]
    fn failed() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        let failed = StreamState::Failed { reason: "key rejected (10100)".into(), kind: ErrorKind::Auth };
        model.apply("cold", StreamEvent::Status(failed), later(t0, 1));
        insta::assert_snapshot!(render(&model, later(t0, 2)).backend());
    }

    #[test]
    fn a_change_is_highlighted() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        model.apply("cold", StreamEvent::Wallet(row("exchange", "ETH", "1")), later(t0, 10));
        let terminal = render(&model, later(t0, 11));
        insta::assert_snapshot!(terminal.backend());
        // The highlight is a style as well as the `*`: the ETH row is drawn on yellow.
        let buffer = terminal.backend().buffer();
        let eth_row = (0..buffer.area.height)
            .find(|&y| {
                (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect::<String>().contains("ETH *")
            })
            .unwrap();
        assert_eq!(buffer[(2, eth_row)].bg, Color::Yellow);
        let after = render(&model, later(t0, 13));
        let text = format!("{}", after.backend());
        assert!(!text.contains("ETH *"), "{text}");
    }

    #[test]
    fn assets_that_do_not_fit_are_counted() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        model.apply("cold", StreamEvent::Wallet(row("exchange", "AIO", "11")), later(t0, 1));
        let mut terminal = Terminal::new(TestBackend::new(100, 12)).unwrap();
        let clock = Clock { at: later(t0, 1), clock: "12:34:56 UTC".into() };
        terminal.draw(|frame| draw(frame, &model, &clock)).unwrap();
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn ages() {
        assert_eq!(age_text(Duration::from_millis(4900)), "4s");
        assert_eq!(age_text(Duration::from_secs(125)), "2m05s");
        assert_eq!(age_text(Duration::from_secs(3720)), "1h02m");
    }
}
