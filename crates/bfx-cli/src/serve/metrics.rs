//! `/metrics`: the live model as Prometheus families, encoded by `prometheus-client` (as
//! [`Collector`]s, so that wallets, accounts and pairs that disappear disappear from the
//! exposition too). Label values are whatever the exchange sent: the library escapes them.
//! Decimals become `f64` here and nowhere else.
//!
//! The families that change only with the model (wallets, values, prices, states: nearly all of
//! the text, 4 MiB for 1 000 accounts × 20 wallets, ~15 ms to encode whole) are kept encoded per
//! format, account by account: each account's sample lines (encoded through the library, one
//! account at a time) are encoded again only when that account or the prices changed
//! ([`Model::versions`](bfx_client::live::Model::versions)) and spliced into the piece of text
//! that holds that family's lines of its block of 64 accounts (so a change copies kilobytes, not
//! the whole text); a scrape sends each family's header and pieces one after another, shared,
//! not copied. The portfolio-wide families
//! (its total, the prices) are encoded whole after every change; the ones that change by
//! themselves (data ages, request counters) at every scrape.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::body::Bytes;
use bfx_client::StreamState;
use bfx_client::live::{AccountView, Versions};
use bfx_core::portfolio::{AccountValue, Portfolio};
use bfx_core::valuation::pair_symbol;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use rust_decimal::Decimal;

use super::Live;

/// The two expositions a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`, the default.
    Text,
    /// `application/openmetrics-text; version=1.0.0`, when the `Accept` header asks for it.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when `accept` names it (Prometheus asks for it first, with the classic text
    /// as a fallback), the classic text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
            true => Format::OpenMetrics,
            false => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The model's families as last encoded, per format.
#[derive(Debug, Default)]
pub struct Cache(Mutex<[Option<Encoded>; 2]>);

/// Accounts whose lines of one family are kept as one piece of the text: a change joins again
/// only the pieces of the accounts that changed (64 accounts' lines, not the whole 4 MiB), and a
/// scrape sends about 7 × accounts / 64 pieces. Two in this module's tests, so that their few
/// accounts span several pieces.
const BLOCK: usize = if cfg!(test) { 2 } else { 64 };

/// The model's families in one format: the pieces of text scrapes send, and where each
/// account's sample lines of each family are in its piece (to splice in an account's new lines
/// after it changed).
#[derive(Debug)]
struct Encoded {
    /// The model version this is of.
    version: u64,
    /// Per family of [`ACCOUNT_FAMILIES`], its `# HELP` and `# TYPE` lines.
    headers: Vec<Bytes>,
    /// Per family of [`ACCOUNT_FAMILIES`], its sample lines, [`BLOCK`] accounts a piece.
    blocks: Vec<Vec<Bytes>>,
    /// Per family of [`PORTFOLIO_FAMILIES`], its header and sample lines.
    portfolio: Vec<Bytes>,
    /// In the model's order of accounts.
    accounts: Vec<Spans>,
}

impl Encoded {
    /// Every family of the model, in [`ORDER`] (no end marker), as pieces shared with this.
    fn pieces(&self) -> Vec<Bytes> {
        let mut pieces = Vec::with_capacity(ORDER.len() + self.blocks.iter().map(Vec::len).sum::<usize>());
        for part in ORDER {
            match part {
                Part::Account(family) => {
                    pieces.extend(self.headers.get(family).cloned());
                    pieces.extend(self.blocks.get(family).into_iter().flatten().cloned());
                }
                Part::Portfolio(family) => pieces.extend(self.portfolio.get(family).cloned()),
            }
        }
        pieces
    }
}

/// Where one account's sample lines of each family of [`ACCOUNT_FAMILIES`] are in that
/// family's piece of its block of accounts.
#[derive(Debug)]
struct Spans {
    /// What they are of ([`Model::versions`](bfx_client::live::Model::versions)).
    versions: Versions,
    families: [Range<usize>; ACCOUNT_FAMILIES.len()],
}

/// One account's sample lines of every family of [`ACCOUNT_FAMILIES`], one after another.
#[derive(Debug)]
struct AccountLines {
    text: String,
    /// Where each family's lines end in `text`.
    ends: [usize; ACCOUNT_FAMILIES.len()],
}

impl AccountLines {
    fn family(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |previous| self.ends[previous]);
        self.text.get(start..self.ends[index]).unwrap_or_default()
    }
}

/// A family's name and help.
type Family = (&'static str, &'static str);

const WALLET_BALANCE: Family =
    ("bfx_wallet_balance", "Balance of one wallet, in its own currency, as Bitfinex sent it.");
const WALLET_VALUE: Family =
    ("bfx_wallet_value", "Value of one wallet in the quote currency (absent when it cannot be priced).");
const ACCOUNT_VALUE: Family = (
    "bfx_account_value",
    "Sum of an account's priced wallets in the quote currency (unpriced and paper ones left out).",
);
const PORTFOLIO_VALUE: Family = (
    "bfx_portfolio_value",
    "Sum of every account's value in the quote currency: the total of `bfx balances`.",
);
const POSITION_PL_VALUE: Family =
    ("bfx_position_pl_value", "Unrealised profit or loss of an open position, in the quote currency.");
const PRICE: Family = (
    "bfx_price",
    "Price of one unit of each held currency in the quote currency, as used for the values (the pair's own ticker, or the rate through the route).",
);
const ACCOUNT_UP: Family = (
    "bfx_account_up",
    "1 while the account's data is current (its stream live, or polling with the last poll successful), else 0.",
);
const ACCOUNT_STATE: Family = (
    "bfx_account_state",
    "1 for the state the account's stream is in (live: on the WebSocket; polling, queued: over REST), 0 for the others.",
);
const UNPRICED_ASSETS: Family = (
    "bfx_unpriced_assets",
    "Wallets of the account left out of its value because they cannot be priced (paper ones included).",
);

/// The families with samples of each account, in the order [`AccountSamples`] encodes them.
const ACCOUNT_FAMILIES: [Family; 7] = [
    WALLET_BALANCE,
    WALLET_VALUE,
    ACCOUNT_VALUE,
    POSITION_PL_VALUE,
    ACCOUNT_UP,
    ACCOUNT_STATE,
    UNPRICED_ASSETS,
];
/// The families of the whole portfolio, in the order [`PortfolioSamples`] encodes them.
const PORTFOLIO_FAMILIES: [Family; 2] = [PORTFOLIO_VALUE, PRICE];

/// The exposition's order of the model's families.
const ORDER: [Part; 9] = [
    Part::Account(0),
    Part::Account(1),
    Part::Account(2),
    Part::Portfolio(0),
    Part::Account(3),
    Part::Portfolio(1),
    Part::Account(4),
    Part::Account(5),
    Part::Account(6),
];

#[derive(Debug, Clone, Copy)]
enum Part {
    /// A family of [`ACCOUNT_FAMILIES`].
    Account(usize),
    /// A family of [`PORTFOLIO_FAMILIES`].
    Portfolio(usize),
}

/// Every family, now: the model's (as kept, shared: no copy) and the per-scrape ones after
/// them (with the end marker in OpenMetrics).
pub fn encode(live: &Arc<Live>, format: Format) -> Result<(Vec<Bytes>, String), std::fmt::Error> {
    let per_scrape = exposition(Box::new(PerScrape(Arc::clone(live))), format, 0)?;
    Ok((model_families(live, format)?, per_scrape))
}

/// The model's families, brought up to date first: the accounts whose [`Versions`] moved are
/// read (under the model's lock) and encoded again (after it), and their lines spliced into
/// their blocks' pieces; the portfolio's families are encoded whole after every change.
fn model_families(live: &Live, format: Format) -> Result<Vec<Bytes>, std::fmt::Error> {
    // Held while encoding: concurrent scrapes of a changed model encode it once.
    let mut cache = live.exposition.0.lock().unwrap_or_else(PoisonError::into_inner);
    let encoded = &mut cache[format as usize];
    let (version, changed, portfolio) = {
        let model = live.model();
        let version = model.version();
        if let Some(encoded) = encoded.as_ref().filter(|e| e.version == version) {
            return Ok(encoded.pieces());
        }
        let valued = model.valued();
        let quote = valued.quote.as_str();
        let kept = encoded.as_ref().map_or(&[][..], |e| &e.accounts[..]);
        // Per account: `None` while its lines are current.
        let changed: Vec<(Versions, Option<AccountSamples>)> = valued
            .accounts
            .iter()
            .zip(&model.accounts)
            .enumerate()
            .map(|(index, (value, view))| {
                let versions = model.versions(index);
                let current = kept.get(index).is_some_and(|k| k.versions == versions);
                (versions, (!current).then(|| AccountSamples::new(quote, view, value)))
            })
            .collect();
        (version, changed, PortfolioSamples::new(valued))
    };
    let old = encoded.take();
    let headers = match &old {
        Some(old) => old.headers.clone(),
        None => headers(format)?,
    };
    let mut spans = Vec::with_capacity(changed.len());
    let mut lines = Vec::with_capacity(changed.len());
    for (versions, samples) in changed {
        spans.push(Spans { versions, families: Default::default() });
        lines.push(samples.map(|samples| account_lines(samples, format)).transpose()?);
    }
    let portfolio = exposition(Box::new(portfolio), format, 0)?;
    let portfolio: Vec<Bytes> = sections(&portfolio)
        .into_iter()
        .map(|(header, samples)| Bytes::from([header, samples].concat()))
        .collect();
    if portfolio.len() != PORTFOLIO_FAMILIES.len() {
        return Err(std::fmt::Error);
    }
    let (old_blocks, old_spans) =
        old.as_ref().map_or((&[][..], &[][..]), |o| (&o.blocks[..], &o.accounts[..]));
    let mut blocks = Vec::with_capacity(ACCOUNT_FAMILIES.len());
    for family in 0..ACCOUNT_FAMILIES.len() {
        let old_pieces = old_blocks.get(family).map_or(&[][..], Vec::as_slice);
        let mut pieces = Vec::with_capacity(spans.len().div_ceil(BLOCK));
        for (block, first) in (0..spans.len()).step_by(BLOCK).enumerate() {
            let accounts = first..(first + BLOCK).min(spans.len());
            let old_piece = old_pieces.get(block);
            let kept = |index: usize| -> Option<Range<usize>> {
                old_spans.get(index)?.families.get(family).cloned()
            };
            match old_piece.filter(|_| lines[accounts.clone()].iter().all(Option::is_none)) {
                // No account of the block changed: its piece and spans as they were.
                Some(piece) => {
                    for index in accounts {
                        spans[index].families[family] = kept(index).ok_or(std::fmt::Error)?;
                    }
                    pieces.push(piece.clone());
                }
                None => {
                    let mut text: Vec<u8> =
                        Vec::with_capacity(old_piece.map_or(0, |p| p.len() + p.len() / 8));
                    for index in accounts {
                        let start = text.len();
                        match &lines[index] {
                            Some(lines) => text.extend_from_slice(lines.family(family).as_bytes()),
                            None => {
                                let range = kept(index).ok_or(std::fmt::Error)?;
                                let piece = old_piece.ok_or(std::fmt::Error)?;
                                text.extend_from_slice(piece.get(range).ok_or(std::fmt::Error)?);
                            }
                        }
                        spans[index].families[family] = start..text.len();
                    }
                    pieces.push(Bytes::from(text));
                }
            }
        }
        blocks.push(pieces);
    }
    let fresh = Encoded { version, headers, blocks, portfolio, accounts: spans };
    let pieces = fresh.pieces();
    *encoded = Some(fresh);
    Ok(pieces)
}

/// The header of each family of [`ACCOUNT_FAMILIES`] in `format`, as the library writes it.
fn headers(format: Format) -> Result<Vec<Bytes>, std::fmt::Error> {
    let text = exposition(Box::new(AccountSamples::default()), format, 0)?;
    let headers: Vec<Bytes> =
        sections(&text).into_iter().map(|(header, _)| Bytes::copy_from_slice(header.as_bytes())).collect();
    match headers.len() == ACCOUNT_FAMILIES.len() {
        true => Ok(headers),
        false => Err(std::fmt::Error),
    }
}

/// One account's sample lines, encoded through the library (the headers dropped).
fn account_lines(samples: AccountSamples, format: Format) -> Result<AccountLines, std::fmt::Error> {
    let encoded = exposition(Box::new(samples), format, 0)?;
    let families = sections(&encoded);
    if families.len() != ACCOUNT_FAMILIES.len() {
        return Err(std::fmt::Error);
    }
    let mut text = String::with_capacity(families.iter().map(|(_, samples)| samples.len()).sum());
    let mut ends = [0; ACCOUNT_FAMILIES.len()];
    for ((_, samples), end) in families.into_iter().zip(&mut ends) {
        text.push_str(samples);
        *end = text.len();
    }
    Ok(AccountLines { text, ends })
}

/// An exposition cut into its families, each `(header, sample lines)`; the end marker left out.
/// Every family starts with its `# HELP` line and no sample line starts with `#` (a line break
/// in a label value is escaped).
fn sections(text: &str) -> Vec<(&str, &str)> {
    // `(header start, samples start, end)`.
    let mut families: Vec<(usize, usize, usize)> = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        if line == "# EOF\n" {
            break;
        }
        if line.starts_with("# HELP ") {
            families.push((start, at, at));
        } else if let Some((_, samples, end)) = families.last_mut() {
            // Another header line (`# TYPE`, `# UNIT`) before the first sample.
            if line.starts_with('#') && samples == end {
                *samples = at;
            }
            *end = at;
        }
    }
    families
        .into_iter()
        .map(|(header, samples, end)| {
            (text.get(header..samples).unwrap_or_default(), text.get(samples..end).unwrap_or_default())
        })
        .collect()
}

/// One account's samples, read from the model and owned, so they are encoded after its lock.
#[derive(Debug, Default)]
struct AccountSamples {
    name: String,
    quote: String,
    /// `(wallet type, currency, balance, value)`.
    wallets: Vec<(String, String, f64, Option<f64>)>,
    total: Option<f64>,
    /// `(symbol, P/L in the quote)` of the positions with one.
    positions: Vec<(String, f64)>,
    up: bool,
    state: &'static str,
    unpriced: usize,
}

impl AccountSamples {
    fn new(quote: &str, view: &AccountView, value: &AccountValue) -> AccountSamples {
        AccountSamples {
            name: value.name.clone(),
            quote: quote.to_owned(),
            wallets: value
                .wallets
                .iter()
                .map(|w| {
                    (
                        w.wallet_type.as_str().to_owned(),
                        w.currency.clone(),
                        float(w.balance),
                        w.value.map(float),
                    )
                })
                .collect(),
            total: value.total.map(float),
            positions: value
                .positions
                .iter()
                .flatten()
                .filter_map(|p| Some((p.symbol.clone(), float(p.pl_value?))))
                .collect(),
            up: view.is_current(),
            state: view.state.name(),
            unpriced: value.wallets.iter().filter(|w| w.value.is_none()).count(),
        }
    }
}

impl Collector for AccountSamples {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (account, quote) = (b(&self.name), b(&self.quote));
        let [balance, value, total, pl, up, state, unpriced] = ACCOUNT_FAMILIES;
        gauges(
            &mut encoder,
            balance,
            self.wallets.iter().map(|(wallet, currency, balance, _)| {
                ([("account", account.clone()), ("wallet", b(wallet)), ("currency", b(currency))], *balance)
            }),
        )?;
        gauges(
            &mut encoder,
            value,
            self.wallets.iter().filter_map(|(wallet, currency, _, value)| {
                let labels = [
                    ("account", account.clone()),
                    ("wallet", b(wallet)),
                    ("currency", b(currency)),
                    ("quote", quote.clone()),
                ];
                Some((labels, (*value)?))
            }),
        )?;
        gauges(
            &mut encoder,
            total,
            self.total.map(|t| ([("account", account.clone()), ("quote", quote.clone())], t)),
        )?;
        gauges(
            &mut encoder,
            pl,
            self.positions.iter().map(|(symbol, pl)| {
                ([("account", account.clone()), ("symbol", b(symbol)), ("quote", quote.clone())], *pl)
            }),
        )?;
        gauges(&mut encoder, up, [([("account", account.clone())], f64::from(u8::from(self.up)))])?;
        gauges(
            &mut encoder,
            state,
            // No state: the headers alone (see `headers`).
            StreamState::NAMES.iter().filter(|_| !self.state.is_empty()).map(|state| {
                (
                    [("account", account.clone()), ("state", b(state))],
                    f64::from(u8::from(*state == self.state)),
                )
            }),
        )?;
        gauges(&mut encoder, unpriced, [([("account", account.clone())], self.unpriced as f64)])
    }
}

/// The portfolio-wide samples: its total, and the price of each held currency.
#[derive(Debug)]
struct PortfolioSamples {
    quote: String,
    total: Option<f64>,
    /// `(pair, price)`.
    prices: Vec<(String, f64)>,
}

impl PortfolioSamples {
    fn new(portfolio: &Portfolio) -> PortfolioSamples {
        let quote = portfolio.quote.as_str();
        PortfolioSamples {
            quote: quote.to_owned(),
            total: portfolio.total.map(float),
            prices: portfolio
                .assets
                .iter()
                .filter(|asset| asset.currency != quote)
                .filter_map(|asset| Some((pair_symbol(&asset.currency, quote), float(asset.price?))))
                .collect(),
        }
    }
}

impl Collector for PortfolioSamples {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let [total, price] = PORTFOLIO_FAMILIES;
        gauges(&mut encoder, total, self.total.map(|total| ([("quote", b(&self.quote))], total)))?;
        gauges(&mut encoder, price, self.prices.iter().map(|(pair, price)| ([("pair", b(pair))], *price)))
    }
}

/// One registry of `collector`, encoded in `format`.
fn exposition(
    collector: Box<dyn Collector>,
    format: Format,
    capacity: usize,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(collector);
    let mut out = String::with_capacity(capacity);
    match format {
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?,
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry)?,
    }
    Ok(out)
}

/// The families that change by themselves: data ages, counters.
#[derive(Debug)]
struct PerScrape(Arc<Live>);

/// A decimal at the edge: the `f64` nearest to it, as a scraper parsing the decimal text would
/// get (through the text: `Decimal::to_f64` divides by a power of ten, which can miss it by an ulp).
fn float(value: Decimal) -> f64 {
    value.to_string().parse().unwrap_or(f64::NAN)
}

/// A sample's labels: names, and values borrowed from the model where they can be (a scrape of
/// 1 000 accounts × 20 wallets has 60 000 of them).
type Labels<'a, const N: usize> = [(&'static str, Cow<'a, str>); N];

/// One gauge family: its descriptor, then each sample with its labels.
fn gauges<'a, const N: usize>(
    encoder: &mut DescriptorEncoder,
    (name, help): Family,
    samples: impl IntoIterator<Item = (Labels<'a, N>, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut family =
        encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One counter family (`name` without `_total`: the library adds it as each format wants).
fn counters<'a, const N: usize>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'a, N>, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family =
        encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for PerScrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = Instant::now();
        // Read under the lock, encoded after it: the stream loop waits for no scrape.
        let (ages, names): (Vec<_>, Vec<String>) = {
            let model = self.0.model();
            model.accounts.iter().map(|a| ((a.name.clone(), a.age(now)), a.name.clone())).unzip()
        };
        gauges(
            &mut encoder,
            (
                "bfx_account_data_age_seconds",
                "Seconds since the account's last data (snapshot, wallet change or total); absent before the first.",
            ),
            ages.into_iter()
                .filter_map(|(name, age)| Some(([("account", Cow::Owned(name))], age?.as_secs_f64()))),
        )?;
        let requests = self.0.request_counts();
        counters(
            &mut encoder,
            "bfx_requests",
            "Requests sent to Bitfinex, by endpoint and outcome (ok, or the error's kind as in `bfx balances --json`).",
            requests.iter().map(|r| {
                let outcome = r.outcome.map_or("ok", |kind| kind.name());
                ([("endpoint", b(r.endpoint)), ("outcome", b(outcome))], r.count)
            }),
        )?;
        let mut rate_limited: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for r in &requests {
            if r.outcome == Some(bfx_client::ErrorKind::RateLimited) {
                *rate_limited.entry(r.endpoint).or_default() += r.count;
            }
        }
        counters(
            &mut encoder,
            "bfx_rate_limited",
            "Requests Bitfinex answered with 429 (the IP is blocked on the endpoint for a while), by endpoint.",
            rate_limited.into_iter().map(|(endpoint, count)| ([("endpoint", b(endpoint))], count)),
        )?;
        let reconnects = self.0.reconnects();
        counters(
            &mut encoder,
            "bfx_reconnects",
            "Times the account's stream lost its connection and started reconnecting.",
            names.into_iter().map(|name| {
                let count = reconnects.get(&name).copied().unwrap_or_default();
                ([("account", Cow::Owned(name))], count)
            }),
        )?;
        if let Some((ok, failed)) = self.0.snapshot_counts() {
            counters(
                &mut encoder,
                "bfx_snapshots",
                "Portfolio snapshots written into the history store (--snapshot-every), by outcome: ok or failed.",
                [([("outcome", b("ok"))], ok), ([("outcome", b("failed"))], failed)],
            )?;
        }
        Ok(())
    }
}

/// A label value borrowed.
fn b(value: &str) -> Cow<'_, str> {
    Cow::Borrowed(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfx_client::live::Model;
    use bfx_client::live::fixtures::{market, row};
    use bfx_client::{Client, Error, SocketError, StreamEvent};
    use bfx_core::PriceKind;

    /// The whole exposition, as a scrape gets it.
    fn encode(live: &Arc<Live>, format: Format) -> Result<String, std::fmt::Error> {
        let (model, tail) = super::encode(live, format)?;
        Ok(String::from_utf8(model.concat()).map_err(|_| std::fmt::Error)? + &tail)
    }

    fn live(model: Model) -> Arc<Live> {
        let client = Client::builder().in_memory_nonces().build().unwrap();
        Arc::new(Live::new(model, client))
    }

    /// The model's families as they were encoded before they were kept per account: whole,
    /// from the model, in one pass.
    #[derive(Debug)]
    struct Reference(Arc<Live>);

    impl Collector for Reference {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            let model = self.0.model();
            let portfolio = model.valued();
            let quote = portfolio.quote.as_str();
            let accounts = || portfolio.accounts.iter();
            let wallets = || {
                accounts()
                    .flat_map(|a| a.wallets.iter().map(move |w| (a.name.as_str(), w.wallet_type.as_str(), w)))
            };
            gauges(
                &mut encoder,
                ("bfx_wallet_balance", "Balance of one wallet, in its own currency, as Bitfinex sent it."),
                wallets().map(|(account, wallet, w)| {
                    (
                        [("account", b(account)), ("wallet", b(wallet)), ("currency", b(&w.currency))],
                        float(w.balance),
                    )
                }),
            )?;
            gauges(
                &mut encoder,
                (
                    "bfx_wallet_value",
                    "Value of one wallet in the quote currency (absent when it cannot be priced).",
                ),
                wallets().filter_map(|(account, wallet, w)| {
                    let labels = [
                        ("account", b(account)),
                        ("wallet", b(wallet)),
                        ("currency", b(&w.currency)),
                        ("quote", b(quote)),
                    ];
                    Some((labels, float(w.value?)))
                }),
            )?;
            gauges(
                &mut encoder,
                (
                    "bfx_account_value",
                    "Sum of an account's priced wallets in the quote currency (unpriced and paper ones left out).",
                ),
                accounts()
                    .filter_map(|a| Some(([("account", b(&a.name)), ("quote", b(quote))], float(a.total?)))),
            )?;
            gauges(
                &mut encoder,
                (
                    "bfx_portfolio_value",
                    "Sum of every account's value in the quote currency: the total of `bfx balances`.",
                ),
                portfolio.total.map(|total| ([("quote", b(quote))], float(total))),
            )?;
            gauges(
                &mut encoder,
                (
                    "bfx_position_pl_value",
                    "Unrealised profit or loss of an open position, in the quote currency.",
                ),
                accounts().flat_map(|a| {
                    a.positions.iter().flatten().filter_map(move |p| {
                        let labels = [("account", b(&a.name)), ("symbol", b(&p.symbol)), ("quote", b(quote))];
                        Some((labels, float(p.pl_value?)))
                    })
                }),
            )?;
            gauges(
                &mut encoder,
                (
                    "bfx_price",
                    "Price of one unit of each held currency in the quote currency, as used for the values (the pair's own ticker, or the rate through the route).",
                ),
                portfolio.assets.iter().filter(|asset| asset.currency != quote).filter_map(|asset| {
                    Some(([("pair", Cow::Owned(pair_symbol(&asset.currency, quote)))], float(asset.price?)))
                }),
            )?;
            gauges(
                &mut encoder,
                (
                    "bfx_account_up",
                    "1 while the account's data is current (its stream live, or polling with the last poll successful), else 0.",
                ),
                model
                    .accounts
                    .iter()
                    .map(|a| ([("account", b(&a.name))], f64::from(u8::from(a.is_current())))),
            )?;
            gauges(
                &mut encoder,
                (
                    "bfx_account_state",
                    "1 for the state the account's stream is in (live: on the WebSocket; polling, queued: over REST), 0 for the others.",
                ),
                model.accounts.iter().flat_map(|a| {
                    let current = a.state.name();
                    StreamState::NAMES.iter().map(move |state| {
                        (
                            [("account", b(&a.name)), ("state", b(state))],
                            f64::from(u8::from(*state == current)),
                        )
                    })
                }),
            )?;
            gauges(
                &mut encoder,
                (
                    "bfx_unpriced_assets",
                    "Wallets of the account left out of its value because they cannot be priced (paper ones included).",
                ),
                accounts().map(|a| {
                    let count = a.wallets.iter().filter(|w| w.value.is_none()).count();
                    ([("account", b(&a.name))], count as f64)
                }),
            )?;
            Ok(())
        }
    }

    /// The model's part of `/metrics` encoded from scratch, without the end marker.
    fn from_scratch(live: &Arc<Live>, format: Format) -> String {
        let mut text = exposition(Box::new(Reference(Arc::clone(live))), format, 0).unwrap();
        text.truncate(text.trim_end_matches("# EOF\n").len());
        text
    }

    /// After every kind of change, the model's part as kept per account is byte for byte the
    /// one encoded from scratch, in both formats; a change of one account is in the next scrape,
    /// a change of prices in every account's values.
    #[test]
    fn kept_lines_are_those_encoded_from_scratch() {
        let t0 = Instant::now();
        let names = ["a\"b", "c\\d\ne", "plain", "gone"].map(str::to_owned);
        let live = live(Model::new("USD", PriceKind::Last, names.clone()));
        let check = |step: &str| {
            for format in [Format::Text, Format::OpenMetrics] {
                let kept = String::from_utf8(model_families(&live, format).unwrap().concat()).unwrap();
                assert_eq!(kept, from_scratch(&live, format), "{step}, {format:?}");
            }
        };
        let scrape = || String::from_utf8(model_families(&live, Format::Text).unwrap().concat()).unwrap();
        check("no data, no prices");
        live.model().set_market(market(), t0);
        for name in &names[..3] {
            live.model().apply(name, StreamEvent::Status(StreamState::Live), t0);
            let mut odd = row("exchange", "BTC", "0.5");
            odd.currency = "X\"Y\\Z\nW".to_owned();
            let rows = vec![
                row("exchange", "BTC", "1"),
                row("margin", "XYZ", "5"),
                row("exchange", "TESTBTC", "1"),
                odd,
            ];
            live.model().apply(name, StreamEvent::Snapshot { wallets: rows }, t0);
        }
        let error = Arc::new(Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() });
        live.model().apply("gone", StreamEvent::Status(StreamState::Failed { error }), t0);
        check("snapshots, a failed account");
        let position = |symbol: &str, pl: &str| bfx_core::Position {
            symbol: symbol.to_owned(),
            status: "ACTIVE".to_owned(),
            amount: Decimal::ONE,
            base_price: Decimal::ONE,
            pl: Some(pl.parse().unwrap()),
            price_liq: None,
            leverage: None,
            id: None,
            mts_create: None,
            mts_update: None,
            kind: None,
        };
        live.model().set_positions("a\"b", Ok(vec![position("tBTCUSD", "-12.5"), position("tXYZUSD", "1")]));
        live.model().set_positions("plain", Ok(vec![position("tETHBTC", "0.01")]));
        check("positions");
        let before = scrape();
        let first_blocks = || -> Vec<Bytes> {
            let cache = live.exposition.0.lock().unwrap();
            cache[Format::Text as usize]
                .as_ref()
                .unwrap()
                .blocks
                .iter()
                .map(|pieces| pieces[0].clone())
                .collect()
        };
        let untouched = first_blocks();
        live.model().apply("plain", StreamEvent::Wallet(row("exchange", "BTC", "3")), t0);
        let after = scrape();
        // "plain" is in the second block: the first block's pieces are those kept, not joined again.
        let same = first_blocks().iter().zip(&untouched).all(|(now, was)| now.as_ptr() == was.as_ptr());
        assert!(same, "a block without a changed account is kept as it was");
        assert!(
            after
                .contains("bfx_wallet_balance{account=\"plain\",wallet=\"exchange\",currency=\"BTC\"} 3.0\n"),
            "{after}"
        );
        assert!(after.contains("bfx_account_value{account=\"plain\",quote=\"USD\"} 300000.0\n"), "{after}");
        let others = |text: &str| {
            text.lines()
                .filter(|l| !l.contains("\"plain\"") && !l.starts_with("bfx_portfolio_value"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&before), others(&after), "only that account's lines moved");
        check("one wallet changed");
        let reconnecting = StreamState::Reconnecting {
            attempt: 1,
            after: std::time::Duration::ZERO,
            error: Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false })),
        };
        live.model().apply("c\\d\ne", StreamEvent::Status(reconnecting), t0);
        check("a stream reconnecting");
        live.model().apply("new", StreamEvent::Snapshot { wallets: vec![row("funding", "ETH", "2")] }, t0);
        check("an account added");
        live.model().apply("a\"b", StreamEvent::Snapshot { wallets: vec![row("exchange", "ETH", "1")] }, t0);
        check("wallets gone");
        let before = scrape();
        {
            let mut model = live.model();
            model.apply_ticker(bfx_client::TickerEvent::Status(StreamState::Live));
            let _ = model.follow();
            let ticker = bfx_core::parse_trading_ticker("tETHUSD", b"[1,1,1,1,0,0,4100,1,0,0]").unwrap();
            model.apply_ticker(bfx_client::TickerEvent::Ticker(ticker));
        }
        let after = scrape();
        for account in ["a\\\"b", "new"] {
            let value = |text: &str| {
                let prefix = format!("bfx_account_value{{account=\"{account}\",quote=\"USD\"}} ");
                text.lines().find_map(|l| l.strip_prefix(&prefix)).map(str::to_owned)
            };
            assert_ne!(value(&before), value(&after), "{account}: {after}");
        }
        assert!(after.contains("bfx_price{pair=\"tETHUSD\"} 4100.0\n"), "{after}");
        check("a price changed");
    }

    #[test]
    fn decimals_become_the_nearest_float() {
        for text in
            ["172583.63753803105376474700674", "0.1", "-0.00000001", "79228162514264337593543950335", "1e-28"]
        {
            let decimal: Decimal = text.parse().or_else(|_| Decimal::from_scientific(text)).unwrap();
            assert_eq!(float(decimal), decimal.to_string().parse::<f64>().unwrap(), "{text}");
            assert_eq!(float(decimal), text.parse::<f64>().unwrap(), "{text}");
        }
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1")), Format::Text);
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    }

    #[test]
    fn label_values_are_escaped_and_a_stale_account_keeps_its_values() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["a\"b".to_owned()]);
        model.set_market(market(), t0);
        model.apply("a\"b", StreamEvent::Status(StreamState::Live), t0);
        let mut odd = row("exchange", "BTC", "2");
        odd.currency = "X\"Y\\Z\nW".to_owned();
        model.apply("a\"b", StreamEvent::Snapshot { wallets: vec![row("exchange", "BTC", "2"), odd] }, t0);
        let error = Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false }));
        let reconnecting = StreamState::Reconnecting { attempt: 1, after: std::time::Duration::ZERO, error };
        model.apply("a\"b", StreamEvent::Status(reconnecting), t0);
        let live = live(model);
        for format in [Format::Text, Format::OpenMetrics] {
            let text = encode(&live, format).unwrap();
            assert!(
                text.contains("bfx_wallet_balance{account=\"a\\\"b\",wallet=\"exchange\",currency=\"X\\\"Y\\\\Z\\nW\"} 2"),
                "{text}"
            );
            assert!(text.contains("bfx_account_value{account=\"a\\\"b\",quote=\"USD\"} 200000"), "{text}");
            assert!(text.contains("bfx_account_up{account=\"a\\\"b\"} 0"), "{text}");
            assert!(
                text.contains("bfx_account_state{account=\"a\\\"b\",state=\"reconnecting\"} 1"),
                "{text}"
            );
            assert!(text.contains("bfx_unpriced_assets{account=\"a\\\"b\"} 1"), "{text}");
            assert!(text.contains("bfx_price{pair=\"tBTCUSD\"} 100000"), "{text}");
            assert_eq!(
                text.lines().filter(|l| !l.starts_with('#')).count(),
                text.lines().filter(|l| l.starts_with("bfx_")).count(),
                "no line broken by a label: {text}"
            );
        }
    }

    /// The model's part comes from the cache until the model changes, and never after.
    #[test]
    fn a_change_to_the_model_is_in_the_next_scrape_in_both_formats() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["a".to_owned()]);
        model.set_market(market(), t0);
        model.apply("a", StreamEvent::Status(StreamState::Live), t0);
        model.apply("a", StreamEvent::Snapshot { wallets: vec![row("exchange", "BTC", "2")] }, t0);
        let live = live(model);
        let balance = |text: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix("bfx_wallet_balance{account=\"a\",wallet=\"exchange\",currency=\"BTC\"} ")
                })
                .map(str::to_owned)
        };
        // Ages aside (they grow between two scrapes), a scrape of an unchanged model is the same.
        let without_ages = |text: String| {
            let lines = text.lines().filter(|l| !l.starts_with("bfx_account_data_age_seconds{"));
            lines.collect::<Vec<_>>().join("\n")
        };
        for format in [Format::Text, Format::OpenMetrics] {
            let first = without_ages(encode(&live, format).unwrap());
            assert_eq!(first, without_ages(encode(&live, format).unwrap()));
            assert_eq!(balance(&first).as_deref(), Some("2.0"), "{first}");
        }
        live.model().apply("a", StreamEvent::Wallet(row("exchange", "BTC", "3")), t0);
        for format in [Format::Text, Format::OpenMetrics] {
            let text = encode(&live, format).unwrap();
            assert_eq!(balance(&text).as_deref(), Some("3.0"), "{text}");
            assert!(text.contains("bfx_account_value{account=\"a\",quote=\"USD\"} 300000"), "{text}");
            // One exposition: the per-scrape families follow the model's, one end marker.
            assert!(text.contains("bfx_account_data_age_seconds{account=\"a\"}"), "{text}");
            let ends = text.matches("# EOF").count();
            assert_eq!(ends, usize::from(format == Format::OpenMetrics), "{text}");
            assert!(format == Format::Text || text.ends_with("# EOF\n"), "{text}");
        }
    }
}
