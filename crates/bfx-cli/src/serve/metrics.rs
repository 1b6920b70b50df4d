//! `/metrics`: the live model as Prometheus families, encoded by `prometheus-client` (as
//! [`Collector`]s, so that wallets, accounts and pairs that disappear disappear from the
//! exposition too). Label values are whatever the exchange sent: the library escapes them.
//! Decimals become `f64` here and nowhere else.
//!
//! The families that change only with the model (wallets, values, prices, states: nearly all of
//! the text, 4 MiB for 1 000 accounts × 20 wallets, ~15 ms to encode) are encoded once per model
//! version and format and reused until the model changes; the ones that change by themselves
//! (data ages, request counters) are encoded at every scrape.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bfx_client::StreamState;
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

/// `(model version, text)`.
type Encoded = (u64, Arc<String>);

/// Encodes every family, now.
pub fn encode(live: &Arc<Live>, format: Format) -> Result<String, std::fmt::Error> {
    let model_part = model_families(live, format)?;
    let per_scrape = exposition(Box::new(PerScrape(Arc::clone(live))), format, 0)?;
    let mut out = String::with_capacity(model_part.len() + per_scrape.len());
    out.push_str(&model_part);
    out.push_str(&per_scrape);
    Ok(out)
}

/// The model's families, from the cache while the model has not changed.
fn model_families(live: &Arc<Live>, format: Format) -> Result<Arc<String>, std::fmt::Error> {
    let slot = format as usize;
    let version = live.model().version();
    // Held while encoding: concurrent scrapes of a changed model encode it once.
    let mut cache = live.exposition.0.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((cached, text)) = &cache[slot]
        && *cached == version
    {
        return Ok(Arc::clone(text));
    }
    let capacity = cache[slot].as_ref().map_or(0, |(_, text)| text.len() + text.len() / 8);
    let encoded = Arc::new(AtomicU64::new(version));
    let families = ModelFamilies { live: Arc::clone(live), encoded: Arc::clone(&encoded) };
    let mut text = exposition(Box::new(families), format, capacity)?;
    // Only the end of the whole exposition says so; the per-scrape part follows this one.
    if format == Format::OpenMetrics {
        text.truncate(text.trim_end_matches("# EOF\n").len());
    }
    let text = Arc::new(text);
    // The version the text is of (the model may have changed since `version` was read).
    cache[slot] = Some((encoded.load(Ordering::Relaxed), Arc::clone(&text)));
    Ok(text)
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

/// The families that change only with the model; `encoded` is set to the version encoded.
#[derive(Debug)]
struct ModelFamilies {
    live: Arc<Live>,
    encoded: Arc<AtomicU64>,
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
    name: &str,
    help: &str,
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

impl Collector for ModelFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let model = self.live.model();
        self.encoded.store(model.version(), Ordering::Relaxed);
        let portfolio = model.valued();
        let quote = portfolio.quote.as_str();
        let accounts = || portfolio.accounts.iter();
        let wallets = || {
            accounts()
                .flat_map(|a| a.wallets.iter().map(move |w| (a.name.as_str(), w.wallet_type.as_str(), w)))
        };
        gauges(
            &mut encoder,
            "bfx_wallet_balance",
            "Balance of one wallet, in its own currency, as Bitfinex sent it.",
            wallets().map(|(account, wallet, w)| {
                (
                    [("account", b(account)), ("wallet", b(wallet)), ("currency", b(&w.currency))],
                    float(w.balance),
                )
            }),
        )?;
        gauges(
            &mut encoder,
            "bfx_wallet_value",
            "Value of one wallet in the quote currency (absent when it cannot be priced).",
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
            "bfx_account_value",
            "Sum of an account's priced wallets in the quote currency (unpriced and paper ones left out).",
            accounts()
                .filter_map(|a| Some(([("account", b(&a.name)), ("quote", b(quote))], float(a.total?)))),
        )?;
        gauges(
            &mut encoder,
            "bfx_portfolio_value",
            "Sum of every account's value in the quote currency: the total of `bfx balances`.",
            portfolio.total.map(|total| ([("quote", b(quote))], float(total))),
        )?;
        gauges(
            &mut encoder,
            "bfx_position_pl_value",
            "Unrealised profit or loss of an open position, in the quote currency.",
            accounts().flat_map(|a| {
                a.positions.iter().flatten().filter_map(move |p| {
                    let labels = [("account", b(&a.name)), ("symbol", b(&p.symbol)), ("quote", b(quote))];
                    Some((labels, float(p.pl_value?)))
                })
            }),
        )?;
        gauges(
            &mut encoder,
            "bfx_price",
            "Price of one unit of each held currency in the quote currency, as used for the values (the pair's own ticker, or the rate through the route).",
            portfolio.assets.iter().filter(|asset| asset.currency != quote).filter_map(|asset| {
                Some(([("pair", Cow::Owned(pair_symbol(&asset.currency, quote)))], float(asset.price?)))
            }),
        )?;
        gauges(
            &mut encoder,
            "bfx_account_up",
            "1 while the account's data is current (its stream live, or polling with the last poll successful), else 0.",
            model.accounts.iter().map(|a| ([("account", b(&a.name))], f64::from(u8::from(a.is_current())))),
        )?;
        gauges(
            &mut encoder,
            "bfx_account_state",
            "1 for the state the account's stream is in (live: on the WebSocket; polling, queued: over REST), 0 for the others.",
            model.accounts.iter().flat_map(|a| {
                let current = a.state.name();
                StreamState::NAMES.iter().map(move |state| {
                    ([("account", b(&a.name)), ("state", b(state))], f64::from(u8::from(*state == current)))
                })
            }),
        )?;
        gauges(
            &mut encoder,
            "bfx_unpriced_assets",
            "Wallets of the account left out of its value because they cannot be priced (paper ones included).",
            accounts().map(|a| {
                let count = a.wallets.iter().filter(|w| w.value.is_none()).count();
                ([("account", b(&a.name))], count as f64)
            }),
        )?;
        Ok(())
    }
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
            "bfx_account_data_age_seconds",
            "Seconds since the account's last data (snapshot, wallet change or total); absent before the first.",
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

    fn live(model: Model) -> Arc<Live> {
        let client = Client::builder().in_memory_nonces().build().unwrap();
        Arc::new(Live::new(model, client))
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
