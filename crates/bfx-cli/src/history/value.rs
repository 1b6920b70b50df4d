//! `bfx history value`: the daily closes the price graph needs fetched into the store (only the
//! days not stored yet), then the portfolio's value at each point and the change split
//! (`bfx_store::value`), as a table (with the total drawn as a chart on a terminal), one JSON
//! document or CSV. [`compute`] is also what `bfx history chart` draws.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use bfx_client::Client;
use bfx_core::candle::day_start;
use bfx_core::format_decimal;
use bfx_store::history::rfc3339;
use bfx_store::value::{NoChange, Step, ValueQuery, ValueSeries, pairs_for, value_series};
use bfx_store::{CandleSyncError, Store, sync_candles};
use rust_decimal::Decimal;
use serde::Serialize;

use super::accounts_of;
use super::answers::{Completeness, Range};
use super::sync::Bar;
use crate::config::{ConfigError, check_quote};
use crate::exit::{Exit, diagnose};
use crate::output::{Format, csv_field, terminal_safe, value, write_stderr, write_stdout};
use crate::table::{Rows, layout};

/// What was asked.
#[derive(Debug)]
pub struct Ask {
    pub accounts: Vec<String>,
    pub range: Range,
    pub step: Step,
    pub quote: String,
}

/// The answer, and what it covers.
#[derive(Debug)]
pub struct Valued {
    pub series: ValueSeries,
    pub accounts: Vec<String>,
    pub completeness: Completeness,
}

pub async fn run(client: &Client, store: &Store, ask: Ask, format: Format, now: i64) -> anyhow::Result<Exit> {
    let Valued { series, accounts, completeness } = match compute(client, store, ask, now).await? {
        Ok(valued) => valued,
        Err(exit) => return Ok(exit),
    };
    let out = match format {
        Format::Json => json(&series, &completeness),
        Format::Csv => {
            write_stderr(&completeness.notes());
            csv(&series, &accounts)
        }
        Format::Table => table(&series, &accounts, &completeness),
    };
    write_stdout(&out)?;
    Ok(Exit::Ok)
}

/// The closes fetched (only days not stored yet), then the series computed: the one code path of
/// `bfx history value` and `bfx history chart`. An exchange failure has been said on stderr and
/// comes back as its exit code.
pub async fn compute(
    client: &Client,
    store: &Store,
    ask: Ask,
    now: i64,
) -> anyhow::Result<Result<Valued, Exit>> {
    let accounts = accounts_of(store, &ask.accounts).await?;
    // The oldest entry, and where each account's last sync ended: by default the range, so that
    // the answer is complete (index probes, never a count of the ledger).
    let (mut oldest, mut synced_to) = (None::<i64>, None::<i64>);
    for account in &accounts {
        if let Some(mts) = store.oldest_mts(account).await? {
            oldest = Some(oldest.map_or(mts, |o| o.min(mts)));
        }
        let ended = store.coverage(account).await?.last().map_or(now, |c| c.to_mts);
        synced_to = Some(synced_to.map_or(ended, |s| s.min(ended)));
    }
    let Some(oldest) = oldest else {
        return Err(ConfigError::Invalid(
            "no ledger stored for these accounts: run `bfx history sync` first".into(),
        )
        .into());
    };
    let from = ask.range.from.unwrap_or(oldest);
    let to = ask.range.to.unwrap_or(synced_to.unwrap_or(now)).min(now);
    if from > to {
        return Err(ConfigError::Invalid(format!("--from {} is in the future", rfc3339(from))).into());
    }
    let market = match client.market().await {
        Ok(market) => market,
        Err(e) => return Ok(Err(failed("reading today's tickers", &e))),
    };
    check_quote(&market, &ask.quote)?;
    let currencies = store.currencies(&accounts).await?;
    let pairs = pairs_for(&market, &currencies, &ask.quote);
    let bar = Bar::start("prices: reading daily closes…".to_owned());
    let synced = sync_candles(client, store, &pairs, from, to, now, |p| {
        bar.say(|| {
            let pair =
                p.pair.as_deref().map(|pair| format!(" ({})", terminal_safe(pair))).unwrap_or_default();
            format!(
                "prices: {} of {} pairs, {} requests, {} candles{pair}",
                p.pairs_done, p.pairs, p.requests, p.candles
            )
        });
    })
    .await;
    bar.finish();
    match synced {
        Ok(_) => {}
        Err(CandleSyncError::Client { pair, source }) => {
            return Ok(Err(failed(&format!("reading the candles of {pair}"), &source)));
        }
        Err(e) => return Err(e.into()),
    }
    let closes = store.closes(&pairs, day_start(from), day_start(to)).await?;
    let query = ValueQuery {
        accounts: accounts.clone(),
        from_mts: from,
        to_mts: to,
        step: ask.step,
        quote: ask.quote,
    };
    let series = value_series(store, &market, &closes, &query, now).await?;
    let completeness = Completeness::of(store, &accounts, Some(from), Some(to)).await?;
    Ok(Ok(Valued { series, accounts, completeness }))
}

/// An exchange error, said as `bfx balances` says it, and its exit code.
fn failed(doing: &str, error: &bfx_client::Error) -> Exit {
    let d = diagnose(error, "the config");
    write_stderr(&format!("error: {doing}: {}\n", terminal_safe(&d.message)));
    if let Some(hint) = d.hint {
        write_stderr(&format!("hint: {}\n", terminal_safe(&hint)));
    }
    Exit::for_kind(error.kind())
}

/// `YYYY-MM-DD` of a point (its day), or the whole time when it is not a day's end.
fn label(mts: i64) -> String {
    let time = rfc3339(mts);
    match time.ends_with("T23:59:59.999Z") {
        true => time[..10].to_owned(),
        false => time,
    }
}

fn no_change(why: &NoChange) -> String {
    match why {
        NoChange::OnePoint => "one point only: no change to split".to_owned(),
        NoChange::UnpricedEnd { currency } => {
            format!(
                "{currency} has no price at the first or last point, so the change cannot be split exactly"
            )
        }
        NoChange::UnpricedEntry { account, id, currency } => format!(
            "entry {id} of account {account:?} ({currency}) has no price on its day, so the change cannot be split exactly"
        ),
        NoChange::Overflow => "a sum is too large for a decimal".to_owned(),
    }
}

#[derive(Serialize)]
struct PointOut<'a> {
    mts: i64,
    time: String,
    total: String,
    accounts: BTreeMap<&'a str, String>,
    assets: BTreeMap<&'a str, String>,
    unpriced: &'a [String],
}

#[derive(Serialize)]
struct ChangeOut {
    start_value: String,
    end_value: String,
    flows: String,
    earnings: String,
    fees: String,
    market: String,
}

#[derive(Serialize)]
struct Doc<'a> {
    quote: &'a str,
    every: &'static str,
    points: Vec<PointOut<'a>>,
    /// `null` when it cannot be split exactly; `change_note` says why.
    change: Option<ChangeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change_note: Option<String>,
    #[serde(flatten)]
    completeness: &'a Completeness,
}

/// Decimals as strings, keyed by name.
fn strings(map: &BTreeMap<String, Decimal>) -> BTreeMap<&str, String> {
    map.iter().map(|(k, v)| (k.as_str(), format_decimal(*v))).collect()
}

fn json(series: &ValueSeries, completeness: &Completeness) -> String {
    let points = series
        .points
        .iter()
        .map(|p| PointOut {
            mts: p.mts,
            time: rfc3339(p.mts),
            total: format_decimal(p.total),
            accounts: strings(&p.accounts),
            assets: strings(&p.assets),
            unpriced: &p.unpriced,
        })
        .collect();
    let (change, change_note) = match &series.change {
        Ok(c) => (
            Some(ChangeOut {
                start_value: format_decimal(c.start_value),
                end_value: format_decimal(c.end_value),
                flows: format_decimal(c.flows),
                earnings: format_decimal(c.earnings),
                fees: format_decimal(c.fees),
                market: format_decimal(c.market),
            }),
            None,
        ),
        Err(why) => (None, Some(no_change(why))),
    };
    let doc =
        Doc { quote: &series.quote, every: series.step.name(), points, change, change_note, completeness };
    // Plain structs of strings and numbers: serialising cannot fail.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// `mts,time,total,unpriced`, then one column per account.
fn csv(series: &ValueSeries, accounts: &[String]) -> String {
    let mut out = String::from("mts,time,total,unpriced");
    for account in accounts {
        out.push(',');
        out.push_str(&csv_field(account));
    }
    out.push('\n');
    for p in &series.points {
        let mut fields = vec![
            p.mts.to_string(),
            rfc3339(p.mts),
            format_decimal(p.total),
            csv_field(&p.unpriced.join(" ")),
        ];
        fields.extend(
            accounts.iter().map(|a| p.accounts.get(a).map(|v| format_decimal(*v)).unwrap_or_default()),
        );
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn table(series: &ValueSeries, accounts: &[String], completeness: &Completeness) -> String {
    let mut header = vec!["DATE".to_owned(), format!("TOTAL {}", series.quote)];
    header.extend(accounts.iter().cloned());
    header.push("UNPRICED".to_owned());
    let rows: Rows = series
        .points
        .iter()
        .map(|p| {
            let quote = series.quote.as_str();
            let mut row = vec![label(p.mts), value(quote, p.total)];
            row.extend(
                accounts.iter().map(|a| p.accounts.get(a).map_or_else(|| "-".into(), |v| value(quote, *v))),
            );
            row.push(p.unpriced.join(" "));
            row
        })
        .collect();
    let numeric: Vec<usize> = (1..=accounts.len() + 1).collect();
    let mut out = format!(
        "Value in {} at the end (UTC) of each {} (stored balances at that day's Bitfinex closes; unpriced coins left out; exact in --json and --csv)\n",
        series.quote,
        series.step.name()
    );
    out.push_str(&layout(header, rows, &numeric));
    if std::io::stdout().is_terminal() && series.points.len() > 1 {
        let width = terminal_width().saturating_sub(12).clamp(10, 200);
        let totals: Vec<Decimal> = series.points.iter().map(|p| p.total).collect();
        out.push('\n');
        out.push_str(&chart(&totals, width, 8));
    }
    match (&series.change, series.points.first(), series.points.last()) {
        (Ok(c), Some(first), Some(last)) => {
            out.push_str(&format!("\nChange from {} to {}:\n", label(first.mts), label(last.mts)));
            let lines = [
                ("start value", c.start_value),
                ("deposits − withdrawals", c.flows),
                ("earnings", c.earnings),
                ("fees", c.fees),
                ("market", c.market),
                ("end value", c.end_value),
            ];
            let rows: Rows =
                lines.iter().map(|(name, v)| vec![(*name).to_owned(), value(&series.quote, *v)]).collect();
            out.push_str(&layout(vec![String::new(), series.quote.clone()], rows, &[1]));
        }
        (Err(why), _, _) => out.push_str(&format!("\nNo breakdown of the change: {}\n", no_change(why))),
        _ => {}
    }
    out.push_str(&completeness.notes());
    out
}

/// The terminal's width as it says (shells do not export `COLUMNS` to programs), else
/// `COLUMNS`, else 80.
fn terminal_width() -> usize {
    match ratatui::crossterm::terminal::size() {
        Ok((columns, _)) if columns > 0 => usize::from(columns),
        _ => std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(80),
    }
}

/// The values as a block chart `height` rows high and at most `width` columns wide (one column a
/// point, the points sampled evenly when there are more), the top and bottom values labelled.
/// Floats only here, to draw.
pub fn chart(values: &[Decimal], width: usize, height: usize) -> String {
    use rust_decimal::prelude::ToPrimitive;
    let columns = values.len().min(width.max(1));
    let sampled: Vec<f64> = (0..columns)
        .map(|i| {
            let index = i * (values.len() - 1) / (columns - 1).max(1);
            values[index.min(values.len() - 1)].to_f64().unwrap_or(0.0)
        })
        .collect();
    let (low, high) = sampled.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    let span = if high > low { high - low } else { 1.0 };
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let mut out = String::new();
    for row in (0..height).rev() {
        let label = match row {
            r if r == height - 1 => format!("{high:>10.0} "),
            0 => format!("{low:>10.0} "),
            _ => " ".repeat(11),
        };
        out.push_str(&label);
        for v in &sampled {
            // Eighths of a row filled, counting from the bottom of the chart.
            let filled = ((v - low) / span * (height * 8 - 1) as f64).round() as usize + 1;
            let here = filled.saturating_sub(row * 8).min(8);
            out.push(if here == 0 { ' ' } else { BLOCKS[here - 1] });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_rises_with_the_values_and_fits_the_width() {
        let values: Vec<Decimal> = (0..100).map(Decimal::from).collect();
        let text = chart(&values, 40, 4);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().all(|r| r.chars().count() == 11 + 40), "{text}");
        assert!(rows[0].starts_with("        99 ") && rows[3].starts_with("         0 "), "{text}");
        // The last column is full to the top, the first only at the bottom.
        assert_eq!(rows[0].chars().last(), Some('█'));
        assert_eq!(rows[0].chars().nth(11), Some(' '));
        assert_eq!(rows[3].chars().nth(11), Some('▁'));
        // Flat values draw a flat line, never a division by zero.
        let flat = chart(&[Decimal::ONE; 5], 10, 2);
        assert_eq!(flat.lines().count(), 2);
    }
}
