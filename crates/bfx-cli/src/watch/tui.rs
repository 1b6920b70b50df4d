//! The full-screen view of `bfx watch`: a header with the total, one row per account (state, age
//! of its data, value), why any account failed (as `bfx balances` says it), one row per asset
//! (changed rows highlighted), and a footer.
//!
//! [`draw`] is pure over the model, the accounts' secret sources and the clock, so tests render
//! it into a `TestBackend`; the event loop lives in `watch::screen`.

use std::time::{Duration, Instant};

use bfx_client::StreamState;
use bfx_core::Unpriced;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

use super::SecretSources;
use super::failures::{self, failures};
use super::flow::{self, Piece};
use crate::output::{amount, opt_value, terminal_safe};
use bfx_client::live::{AccountValue, AssetLine, Model, PriceAge};

/// The time to show: `at` for ages and highlights, `clock` (e.g. `12:34:56 UTC`) for the header.
#[derive(Debug, Clone)]
pub struct Clock {
    pub at: Instant,
    pub clock: String,
}

/// Columns between cells (ratatui's default) and the two borders of a table.
const SPACING: u16 = 1;
const BORDERS: u16 = 2;

/// Draws the view; `sources` say where each account's secret comes from, for failures' hints.
pub fn draw(frame: &mut Frame, model: &Model, sources: &SecretSources, now: &Clock) {
    let area = frame.area();
    let header = header_pieces(model, now);
    let footer = footer_pieces(model, now.at);
    let (accounts_header, accounts) = account_rows(model, now.at);
    let accounts_widths = column_widths(&accounts_header, &accounts);
    let assets = model.assets(now.at);
    let asset_rows: Vec<TextRow> = assets.iter().map(|a| asset_row(model, a)).collect();
    let longest_more = (vec![(more_text(assets.len(), assets.len()), false, Style::new())], Style::new());
    let assets_widths = column_widths(&assets_header(model), asset_rows.iter().chain([&longest_more]));
    let accounts_height = u16::try_from(accounts.len()).unwrap_or(u16::MAX).saturating_add(3);
    let pieces_width = flow::min_width(&header, INDENT).max(flow::min_width(&footer, INDENT));
    let width = table_width(&accounts_widths)
        .max(table_width(&assets_widths))
        .max(u16::try_from(pieces_width).unwrap_or(u16::MAX));
    // Header and footer lines, and why accounts failed, as they wrap at this width (or, on a
    // terminal too narrow, at the width needed).
    let columns = usize::from(area.width.max(width));
    let header_lines = flow::flow(&header, columns, INDENT);
    let footer_lines = flow::flow(&footer, columns, INDENT);
    let failures = failures(model, sources);
    let errors = failures::errors(&failures, columns);
    let height_of = |lines: &[Line]| u16::try_from(lines.len()).unwrap_or(u16::MAX);
    // Header, the accounts, at least one asset row (or the count of those left out), footer…
    let fixed = height_of(&header_lines)
        .saturating_add(accounts_height)
        .saturating_add(4)
        .saturating_add(height_of(&footer_lines));
    // …and every failed account's error, whole.
    let height = fixed.saturating_add(height_of(&errors));
    if area.width < width || area.height < height {
        // A cut number is a wrong number: say what is needed instead of drawing less.
        let message = format!(
            " bfx watch needs {width}×{height} characters to show every account and value in full; \
             this terminal is {}×{}. Enlarge it, or use --json. q quits.",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(message).wrap(Wrap { trim: true }), area);
        return;
    }
    // The hints too where they fit; the errors alone otherwise (the NDJSON form has every word).
    let full = failures::full(&failures, columns);
    let explained = if height_of(&full) <= area.height.saturating_sub(fixed) { full } else { errors };
    let [header_area, accounts_area, failures_area, assets_area, footer_area] = Layout::vertical([
        Constraint::Length(height_of(&header_lines)),
        Constraint::Length(accounts_height),
        Constraint::Length(height_of(&explained)),
        Constraint::Min(4),
        Constraint::Length(height_of(&footer_lines)),
    ])
    .areas(area);
    // The quote and the clock, where they fit beside the header's first line.
    let right = format!("quote {}   {} ", model.quote, now.clock);
    let first_width = header_lines.first().map_or(0, Line::width);
    if first_width + right.chars().count() + 2 <= usize::from(area.width) {
        let first_row = Rect { height: 1, ..header_area };
        frame.render_widget(Paragraph::new(Line::from(right).right_aligned()), first_row);
    }
    frame.render_widget(Paragraph::new(header_lines), header_area);
    frame.render_widget(table(" Accounts ", accounts_header, accounts, &accounts_widths), accounts_area);
    frame.render_widget(Paragraph::new(explained), failures_area);
    let capacity = usize::from(assets_area.height.saturating_sub(3));
    frame.render_widget(assets_table(model, asset_rows, &assets, capacity, &assets_widths), assets_area);
    frame.render_widget(Paragraph::new(footer_lines), footer_area);
}

/// Where a header or footer line continues.
const INDENT: &str = " ";

/// The header: the total, whether it is incomplete (an account failed) or stale (and why), and
/// how many wallets are unpriced.
fn header_pieces(model: &Model, now: &Clock) -> Vec<Piece> {
    let total = model.grand_total(now.at);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut pieces = vec![Piece::new("", vec![Span::styled(" bfx watch", bold)])];
    let mut why = Vec::new();
    if let n @ 1.. = total.stale_accounts {
        why.push(format!("{n} account{} not live", plural(n)));
    }
    if let (true, PriceAge::Fetched(age)) = (total.stale_prices, model.price_age(now.at)) {
        why.push(format!("prices {} old", age_text(age)));
    }
    let value = match total.no_prices {
        true => Span::styled("no prices yet", dim()),
        false => {
            let value = format!("{} {}", opt_value(&model.quote, total.value), model.quote);
            match why.is_empty() && total.failed_accounts == 0 {
                true => Span::styled(value, bold),
                false => Span::styled(value, dim()),
            }
        }
    };
    pieces.push(Piece::new("   ", vec![Span::raw("total "), value]));
    // As `bfx balances` marks a total that leaves a failed account out.
    if let n @ 1.. = total.failed_accounts {
        let incomplete = format!("INCOMPLETE ({n} account{} failed)", plural(n));
        pieces.push(Piece::new(" ", vec![Span::styled(incomplete, bold.fg(Color::Red))]));
    }
    if !why.is_empty() && !total.no_prices {
        pieces.push(Piece::new(" ", vec![Span::styled(format!("stale ({})", why.join(", ")), dim())]));
    }
    if total.unpriced > 0 {
        pieces.push(Piece::new("  ", vec![Span::styled(format!("+{} unpriced", total.unpriced), dim())]));
    }
    pieces
}

/// The footer: how to quit, how current the prices are, what totals leave out.
fn footer_pieces(model: &Model, now: Instant) -> Vec<Piece> {
    let prices = match model.price_age(now) {
        PriceAge::None => "no prices yet".to_owned(),
        PriceAge::Live => format!("Bitfinex {} prices: live", model.kind),
        PriceAge::Fetched(age) => format!("Bitfinex {} prices: {} old (REST)", model.kind, age_text(age)),
    };
    vec![
        Piece::new(
            "",
            vec![Span::styled(" q", Style::new().add_modifier(Modifier::BOLD)), Span::raw(" quit")],
        ),
        Piece::new("   ", vec![Span::raw(format!("{prices};"))]),
        Piece::new(" ", vec![Span::raw("paper and unpriced left out")]),
    ]
}

/// One cell's text, whether it is right-aligned, and its style.
type Text = (String, bool, Style);
/// A row's cells and its style.
type TextRow = (Vec<Text>, Style);

/// Each column as wide as its widest cell among `header` and `rows`, so no cell is ever cut.
fn column_widths<'a>(header: &[Text], rows: impl IntoIterator<Item = &'a TextRow>) -> Vec<u16> {
    let mut widths: Vec<u16> = header.iter().map(|(text, ..)| text_width(text)).collect();
    for (cells, _) in rows {
        for (width, (text, ..)) in widths.iter_mut().zip(cells) {
            *width = (*width).max(text_width(text));
        }
    }
    widths
}

/// What a table with these column widths needs, borders included.
fn table_width(widths: &[u16]) -> u16 {
    let columns = u16::try_from(widths.len()).unwrap_or(u16::MAX);
    let fixed = BORDERS.saturating_add(SPACING.saturating_mul(columns.saturating_sub(1)));
    widths.iter().fold(fixed, |sum, w| sum.saturating_add(*w))
}

/// A bordered table; the room left over goes between the columns.
fn table(title: &'static str, header: Vec<Text>, rows: Vec<TextRow>, widths: &[u16]) -> Table<'static> {
    let constraints = widths.iter().map(|w| Constraint::Length(*w));
    let cells = |cells: Vec<Text>| {
        cells.into_iter().map(|(text, right, style)| match right {
            true => Cell::from(Line::from(text).right_aligned()).style(style),
            false => Cell::from(text).style(style),
        })
    };
    let header = Row::new(cells(header)).style(Style::new().add_modifier(Modifier::BOLD));
    let rows: Vec<Row> = rows.into_iter().map(|(texts, style)| Row::new(cells(texts)).style(style)).collect();
    Table::new(rows, constraints)
        .column_spacing(SPACING)
        .flex(Flex::SpaceBetween)
        .header(header)
        .block(Block::bordered().title(title))
}

fn text_width(text: &str) -> u16 {
    u16::try_from(Line::from(text).width()).unwrap_or(u16::MAX)
}

/// The accounts' rows (name, state, age, value) and the header. Values are dim when the prices
/// are stale (the header says how old).
fn account_rows(model: &Model, now: Instant) -> (Vec<Text>, Vec<TextRow>) {
    let current = if model.prices_stale(now) { dim() } else { Style::new() };
    let rows = model
        .accounts
        .iter()
        .map(|account| {
            let (state, state_style) = state_cell(&account.state);
            let age = account.age(now).map_or_else(|| "-".to_owned(), age_text);
            let value = match model.account_value(account, now) {
                AccountValue::Unknown => ("-".to_owned(), true, Style::new()),
                _ if !model.has_prices() => ("no prices".to_owned(), true, dim()),
                AccountValue::Current { value, unpriced } => {
                    (value_text(&model.quote, value, unpriced), true, current)
                }
                // The AGE column says how old: the value only needs to say it is not current.
                AccountValue::Stale { value, unpriced, .. } => {
                    (format!("stale {}", value_text(&model.quote, value, unpriced)), true, dim())
                }
            };
            let cells = vec![
                (terminal_safe(&account.name).into_owned(), false, Style::new()),
                (state, false, state_style),
                (age, true, Style::new()),
                value,
            ];
            (cells, Style::new())
        })
        .collect();
    let header = vec![
        ("ACCOUNT".to_owned(), false, Style::new()),
        ("STATE".to_owned(), false, Style::new()),
        ("AGE".to_owned(), true, Style::new()),
        (format!("VALUE {}", model.quote), true, Style::new()),
    ];
    (header, rows)
}

/// One asset's cells and row style.
fn asset_row(model: &Model, asset: &AssetLine) -> TextRow {
    let value = match (asset.value, &asset.unpriced) {
        (Some(v), _) => opt_value(&model.quote, Some(v)),
        (None, Some(Unpriced::Overflow { .. } | Unpriced::SumOverflow)) => "too large".to_owned(),
        (None, _) => "unpriced".to_owned(),
    };
    let style = match (asset.changed, asset.value.is_none() || asset.stale) {
        (true, _) => highlight().add_modifier(Modifier::BOLD),
        (false, true) => dim(),
        (false, false) => Style::new(),
    };
    let name = match asset.changed {
        true => format!("{} *", terminal_safe(&asset.name)),
        false => terminal_safe(&asset.name).into_owned(),
    };
    let cells = vec![
        (name, false, Style::new()),
        (asset.balance.map_or_else(|| "-".to_owned(), |b| amount(&asset.currency, b)), true, Style::new()),
        (value, true, Style::new()),
    ];
    (cells, style)
}

fn assets_header(model: &Model) -> Vec<Text> {
    vec![
        ("ASSET".to_owned(), false, Style::new()),
        ("BALANCE".to_owned(), true, Style::new()),
        (format!("VALUE {}", model.quote), true, Style::new()),
    ]
}

/// The assets, as many as `capacity` rows hold; when some do not fit, the last row says how many
/// are left out and whether any of them changed. `rows` are every asset's, in order; `widths`
/// fit them all, so columns do not move as rows go out of view.
fn assets_table(
    model: &Model,
    mut rows: Vec<TextRow>,
    assets: &[AssetLine],
    capacity: usize,
    widths: &[u16],
) -> Table<'static> {
    if rows.len() > capacity {
        let shown = capacity.saturating_sub(1);
        rows.truncate(shown);
        let hidden = &assets[shown.min(assets.len())..];
        let changed = hidden.iter().filter(|a| a.changed).count();
        let style = if changed > 0 { highlight() } else { dim() };
        rows.push((vec![(more_text(hidden.len(), changed), false, Style::new())], style));
    }
    table(" Assets (* changed) ", assets_header(model), rows, widths)
}

fn more_text(hidden: usize, changed: usize) -> String {
    match changed {
        0 => format!("+{hidden} more"),
        n => format!("+{hidden} more, {n} changed *"),
    }
}

fn highlight() -> Style {
    Style::new().fg(Color::Black).bg(Color::Yellow)
}

fn state_cell(state: &StreamState) -> (String, Style) {
    match state {
        StreamState::Connecting => ("connecting".into(), Style::new().fg(Color::Yellow)),
        StreamState::Live => ("live".into(), Style::new().fg(Color::Green)),
        StreamState::Reconnecting { attempt, .. } => {
            (format!("reconnecting (attempt {attempt})"), Style::new().fg(Color::Yellow))
        }
        StreamState::Polling { .. } => ("polling (REST)".into(), Style::new().fg(Color::Cyan)),
        // Polled while its socket waits for a turn in the connection budget.
        StreamState::Queued { .. } => ("queued (REST)".into(), Style::new().fg(Color::Cyan)),
        // Why, and what to do, is said under the table.
        StreamState::PollFailed { .. } => ("polling (REST) failed".into(), Style::new().fg(Color::Red)),
        StreamState::Maintenance => ("maintenance".into(), Style::new().fg(Color::Yellow)),
        // Why, and what to do, is said under the table.
        StreamState::Failed { .. } => ("failed".into(), Style::new().fg(Color::Red)),
        _ => ("unknown".into(), Style::new()),
    }
}

/// `83,000.00`, or `0.00 +2 unpriced` when some wallets could not be valued.
fn value_text(quote: &str, value: Option<rust_decimal::Decimal>, unpriced: usize) -> String {
    match unpriced {
        0 => opt_value(quote, value),
        n => format!("{} +{n} unpriced", opt_value(quote, value)),
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
    use crate::config::Account;
    use crate::exit::diagnose;
    use bfx_client::Credentials;
    use bfx_client::live::fixtures::{market, row};
    use bfx_client::{Error, SocketError, StreamEvent, TickerEvent};
    use bfx_core::{PriceKind, parse_trading_ticker};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use secrecy::SecretString;
    use std::sync::Arc;

    /// The secrets of `main` and `cold` come from these variables.
    fn sources() -> SecretSources {
        let account = |name: &str, source: &str| Account {
            name: name.to_owned(),
            credentials: Credentials::new("k", SecretString::from("s")),
            secret_source: source.to_owned(),
        };
        SecretSources::new(&[account("main", "BFX_MAIN_SECRET"), account("cold", "BFX_COLD_SECRET")])
    }

    /// `text` with every run of whitespace (and line ends) made one space.
    fn words(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The screen's text, one string per row, borders and all.
    fn rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
        let buffer = terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect())
            .collect()
    }

    fn closed() -> Arc<Error> {
        Arc::new(Error::Socket(SocketError::Closed {
            code: None,
            reason: String::new(),
            awaiting_auth: false,
        }))
    }

    fn refused(message: &str) -> StreamState {
        StreamState::Failed {
            error: Arc::new(Error::WsAuth { code: Some(10100), message: message.to_owned() }),
        }
    }

    fn render(model: &Model, at: Instant) -> Terminal<TestBackend> {
        render_sized(model, at, 100, 20)
    }

    fn render_sized(model: &Model, at: Instant, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        let clock = Clock { at, clock: "12:34:56 UTC".into() };
        terminal.draw(|frame| draw(frame, model, &sources(), &clock)).unwrap();
        terminal
    }

    /// Two live accounts with BTC, ETH and an unpriced coin, seen at `t0`.
    fn two_accounts(t0: Instant) -> Model {
        let mut model = Model::new("USD", PriceKind::Last, ["main".to_owned(), "cold".to_owned()]);
        model.set_market(market(), t0);
        for name in ["main", "cold"] {
            model.apply(name, StreamEvent::Status(StreamState::Live), t0);
        }
        let main =
            vec![row("exchange", "BTC", "0.75"), row("exchange", "ETH", "2"), row("exchange", "AIO", "10")];
        model.apply("main", StreamEvent::Snapshot { wallets: main }, t0);
        model.apply("cold", StreamEvent::Snapshot { wallets: vec![row("exchange", "BTC", "2.5")] }, t0);
        // The pairs valuing BTC and ETH are followed live, at the REST prices.
        assert!(model.follow().is_some());
        model.apply_ticker(TickerEvent::Status(StreamState::Live));
        for (symbol, last) in [("tBTCUSD", "100000"), ("tETHUSD", "4000")] {
            let row = format!("[1,1,1,1,0,0,{last},1,0,0]");
            model.apply_ticker(TickerEvent::Ticker(parse_trading_ticker(symbol, row.as_bytes()).unwrap()));
        }
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
            StreamState::Reconnecting { attempt: 2, after: Duration::from_secs(1), error: closed() };
        model.apply("cold", StreamEvent::Status(reconnecting), later(t0, 20));
        insta::assert_snapshot!(render(&model, later(t0, 25)).backend());
    }

    #[test]
    fn polling_is_current() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        model.apply("main", StreamEvent::Status(StreamState::Polling { error: closed() }), t0);
        insta::assert_snapshot!(render(&model, later(t0, 65)).backend());
    }

    /// Polling whose last poll failed is stale: the state cell says so, and under the table what
    /// `bfx balances` says of that error, with its hint.
    #[test]
    fn a_failed_poll_is_stale_and_says_why() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        model.apply("main", StreamEvent::Status(StreamState::Polling { error: closed() }), t0);
        let error = Error::Api {
            endpoint: "auth/r/wallets",
            status: 500,
            code: 20060,
            message: "maintenance".into(),
        };
        let expected = diagnose(&error, "BFX_MAIN_SECRET");
        let failed = StreamState::PollFailed { error: Arc::new(error) };
        model.apply("main", StreamEvent::Status(failed), later(t0, 10));
        let terminal = render(&model, later(t0, 12));
        insta::assert_snapshot!(terminal.backend());
        let main = rows(&terminal).into_iter().find(|row| row.contains("│main")).unwrap();
        assert_eq!(words(&main), "│main polling (REST) failed 12s stale 83,000.00 +1 unpriced│");
        let text = words(&rows(&terminal).join("\n"));
        assert!(text.contains(&format!("error: account \"main\": {}", expected.message)), "{text}");
        assert!(text.contains(&format!("hint: {}", words(&expected.hint.unwrap()))), "{text}");
        assert!(text.contains("stale (1 account not live)"), "{text}");
    }

    #[test]
    fn old_prices_make_the_total_stale() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        let down = StreamState::Reconnecting { attempt: 3, after: Duration::from_secs(4), error: closed() };
        model.apply_ticker(TickerEvent::Status(down));
        let dim_at = |terminal: &Terminal<TestBackend>, text: &str| {
            let buffer = terminal.backend().buffer();
            let (x, y) = (0..buffer.area.height)
                .find_map(|y| {
                    let line: String = (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect();
                    line.find(text).map(|x| (u16::try_from(x).unwrap(), y))
                })
                .unwrap();
            buffer[(x, y)].modifier.contains(Modifier::DIM)
        };
        let fresh = render(&model, later(t0, 30));
        let text = format!("{}", fresh.backend());
        assert!(text.contains("prices: 30s old (REST)") && !text.contains("stale"), "{text}");
        assert!(!dim_at(&fresh, "250,000.00") && !dim_at(&fresh, "325,000.00"));
        let old = render(&model, later(t0, 45));
        insta::assert_snapshot!(old.backend());
        // Every value is dim, not only the total.
        assert!(dim_at(&old, "250,000.00") && dim_at(&old, "325,000.00") && dim_at(&old, "333,000.00"));
        // With an account not live too, one note says both.
        let reconnecting = StreamState::Reconnecting { attempt: 1, after: Duration::ZERO, error: closed() };
        model.apply("cold", StreamEvent::Status(reconnecting), later(t0, 45));
        let text = format!("{}", render(&model, later(t0, 45)).backend());
        assert!(text.contains("stale (1 account not live, prices 45s old)"), "{text}");
    }

    #[test]
    fn failed() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        model.apply("cold", StreamEvent::Status(refused("apikey: invalid")), later(t0, 1));
        let terminal = render(&model, later(t0, 2));
        insta::assert_snapshot!(terminal.backend());
        // Under the accounts, what `bfx balances` prints for that error: message and hint, whole
        // (wrapped), the hint naming where cold's secret comes from; the state cell says `failed`.
        let error = Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() };
        let expected = diagnose(&error, "BFX_COLD_SECRET");
        let text = words(&rows(&terminal).join("\n"));
        assert!(text.contains(&format!("error: account \"cold\": {}", expected.message)), "{text}");
        assert!(text.contains(&format!("hint: {}", words(&expected.hint.unwrap()))), "{text}");
        assert!(text.contains("BFX_COLD_SECRET") && !text.contains("BFX_MAIN_SECRET"), "{text}");
        let cold = rows(&terminal).into_iter().find(|row| row.contains("│cold")).unwrap();
        assert_eq!(words(&cold), "│cold failed 2s stale 250,000.00│");
        // Every line of it within the screen.
        assert!(rows(&terminal).iter().all(|row| row.chars().count() == 100));
    }

    /// At 120×40 and at 60×20, a refused key's whole reason is on the screen (never cut with
    /// `…`), the footer is whole, and the header total says it is incomplete.
    #[test]
    fn a_failure_is_said_whole_and_makes_the_total_incomplete() {
        let t0 = Instant::now();
        let mut model = two_accounts(t0);
        model.apply("cold", StreamEvent::Status(refused("apikey: digest invalid")), later(t0, 1));
        let error = Error::WsAuth { code: Some(10100), message: "apikey: digest invalid".into() };
        let expected = diagnose(&error, "BFX_COLD_SECRET");
        let reason = words(&format!("error: account \"cold\": {}", expected.message));
        let footer = "q quit Bitfinex last prices: live; paper and unpriced left out";
        for (width, height) in [(120, 40), (60, 20)] {
            let screen = rows(&render_sized(&model, later(t0, 2), width, height));
            let text = words(&screen.join("\n"));
            assert!(
                text.contains(&reason) && !text.contains('…'),
                "{width}×{height}:\n{}",
                screen.join("\n")
            );
            assert!(text.ends_with(footer), "{width}×{height}:\n{}", screen.join("\n"));
            // Above the accounts: the total, marked (a failure is not merely "not live").
            let header =
                screen.iter().take_while(|row| !row.contains("Accounts")).cloned().collect::<Vec<_>>();
            let header = words(&header.join(" "));
            assert!(header.contains("total 333,000.00 USD"), "{width}×{height}: {header}");
            assert!(header.contains("INCOMPLETE (1 account failed)"), "{width}×{height}: {header}");
            assert!(!header.contains("stale"), "{width}×{height}: {header}");
            assert!(screen.iter().all(|row| row.chars().count() == usize::from(width)));
        }
        insta::assert_snapshot!(render_sized(&model, later(t0, 2), 60, 20).backend());
        // With room, the hint too.
        let text = words(&rows(&render_sized(&model, later(t0, 2), 120, 40)).join("\n"));
        assert!(text.contains(&format!("hint: {}", words(&expected.hint.unwrap()))), "{text}");
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
        terminal.draw(|frame| draw(frame, &model, &sources(), &clock)).unwrap();
        insta::assert_snapshot!(terminal.backend());
    }

    /// Amounts at the decimal limit: values that fit are shown, sums that do not are `-`, and
    /// nothing panics.
    #[test]
    fn amounts_at_the_decimal_limit() {
        let t0 = Instant::now();
        let huge = "70000000000000000000000000000";
        let mut model = Model::new("USD", PriceKind::Last, ["main".to_owned()]);
        model.set_market(market(), t0);
        model.apply("main", StreamEvent::Status(StreamState::Live), t0);
        let wallets =
            vec![row("exchange", "USD", huge), row("margin", "USD", huge), row("exchange", "BTC", huge)];
        model.apply("main", StreamEvent::Snapshot { wallets }, t0);
        assert_eq!(model.grand_total(t0).value, None);
        assert_eq!(
            model.account_value(&model.accounts[0], t0),
            AccountValue::Current { value: None, unpriced: 1 }
        );
        let mut terminal = Terminal::new(TestBackend::new(160, 20)).unwrap();
        let clock = Clock { at: t0, clock: "12:34:56 UTC".into() };
        terminal.draw(|frame| draw(frame, &model, &sources(), &clock)).unwrap();
        let text = words(&rows(&terminal).join("\n"));
        assert!(text.contains("total - USD"), "{text}");
        assert!(text.contains("USD - too large"), "the USD sum is too large to show: {text}");
        assert!(text.contains("BTC 70,000,000,000,000,000,000,000,000,000 too large"), "{text}");
    }

    #[test]
    fn a_small_terminal_is_told_so_and_no_number_is_ever_cut() {
        let t0 = Instant::now();
        let model = two_accounts(t0);
        let screen = |width: u16, height: u16| {
            let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
            let clock = Clock { at: later(t0, 1), clock: "12:34:56 UTC".into() };
            terminal.draw(|frame| draw(frame, &model, &sources(), &clock)).unwrap();
            terminal
        };
        insta::assert_snapshot!(screen(40, 14).backend());
        let fits = |width, height| !format!("{}", screen(width, height).backend()).contains("needs");
        let width = (20..200).find(|w| fits(*w, 14)).unwrap();
        let height = (3..50).find(|h| fits(width, *h)).unwrap();
        // At the narrowest width that is drawn (header and footer wrapped, so with room for every
        // asset row: 16 lines), every value is whole…
        let text = format!("{}", screen(width, 16).backend());
        for whole in ["83,000.00 +1 unpriced", "250,000.00", "333,000.00 USD", "325,000.00", "8,000.00"] {
            assert!(text.contains(whole), "{whole} at {width}×16:\n{text}");
        }
        // …and at the lowest height, the assets are counted rather than shown in part.
        let text = format!("{}", screen(width, height).backend());
        assert!(text.contains("+3 more") && text.contains("250,000.00"), "{text}");
        assert!(!fits(width - 1, 14) && !fits(width, height - 1));
        // A failed account takes the lines its error needs, whole: the view asks for them rather
        // than cut the error. Where the hint does not fit too, the error is shown alone.
        let mut failed = two_accounts(t0);
        failed.apply("cold", StreamEvent::Status(refused("apikey: invalid")), t0);
        let failed_screen = |width: u16, height: u16| {
            let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
            let clock = Clock { at: later(t0, 1), clock: "12:34:56 UTC".into() };
            terminal.draw(|frame| draw(frame, &failed, &sources(), &clock)).unwrap();
            rows(&terminal).join("\n")
        };
        let fits = |width, height| !failed_screen(width, height).contains("needs");
        let width = (20..200).find(|w| fits(*w, 40)).unwrap();
        let lowest = (3..50).find(|h| fits(width, *h)).unwrap();
        assert!(lowest > height, "{lowest} ≤ {height}");
        let text = failed_screen(width, lowest - 1);
        assert!(text.contains(&format!("needs {width}×{lowest}")), "{text}");
        let expected = diagnose(&Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() }, "");
        let error = words(&format!("error: account \"cold\": {}", expected.message));
        let text = failed_screen(width, lowest);
        assert!(words(&text).contains(&error) && !text.contains('…') && !text.contains("hint:"), "{text}");
        assert!(text.contains("stale 250,000.00") && text.contains("83,000.00 +1 unpriced"), "{text}");
        let with_hint = (lowest..100).find(|h| failed_screen(width, *h).contains("hint:")).unwrap();
        let text = words(&failed_screen(width, with_hint));
        assert!(text.contains(&error) && text.contains("(check BFX_COLD_SECRET)"), "{text}");
    }

    #[test]
    fn ages() {
        assert_eq!(age_text(Duration::from_millis(4900)), "4s");
        assert_eq!(age_text(Duration::from_secs(125)), "2m05s");
        assert_eq!(age_text(Duration::from_secs(3720)), "1h02m");
    }
}
