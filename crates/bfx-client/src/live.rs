//! What a live follower of accounts knows (`bfx watch`'s view and `bfx serve`'s metrics and JSON
//! share it, so both value as `bfx balances` does): per account its wallets, its last `bu` total, where
//! its stream stands and when data last came; and the market that values it all, from REST
//! `tickers` every 10 s and, for the pairs that value what is held, live from the ticker stream.
//!
//! Pure: every method that depends on time takes `now` (an `Instant`), so tests drive the clock.
//! Values are `bfx balances`' own (`bfx_core::portfolio`): unpriced and paper currencies are left
//! out of totals, a sum too large for a decimal is unknown, never a panic; and an account whose
//! stream is neither live nor polling (with its last poll successful) is stale, never current.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::{StreamEvent, StreamState, TickerEvent};
use bfx_core::portfolio::{self, AccountError, AccountInput, Holdings, Portfolio, Pricer, Totals, Valuation};
use bfx_core::valuation::{Market, PriceKind, Unpriced};
use bfx_core::{Position, TradingTicker, WalletRow};
use rust_decimal::Decimal;

/// How long a changed wallet stays highlighted.
pub const HIGHLIGHT: Duration = Duration::from_secs(2);
/// Prices older than this (three missed REST refreshes) make the total stale.
pub const PRICES_STALE_AFTER: Duration = Duration::from_secs(30);

/// Everything the view shows.
#[derive(Debug)]
pub struct Model {
    /// The currency values are in (`USD`).
    pub quote: String,
    /// The ticker field values are read from.
    pub kind: PriceKind,
    /// `None` until the tickers have been fetched (or while they cannot be).
    market: Option<Market>,
    /// When the market was last fetched over REST.
    fetched_at: Option<Instant>,
    /// The pairs that value what is held, followed live by the ticker stream.
    following: BTreeSet<String>,
    /// The ticker stream is live.
    prices_live: bool,
    /// Tickers of followed pairs received since the ticker stream went live: newer than any REST
    /// fetch while it stays live, so they are applied over each one.
    live: BTreeMap<String, TradingTicker>,
    /// In the order they were configured.
    pub accounts: Vec<AccountView>,
    /// The accounts valued, computed once after each change (every redraw asks for it).
    valued: OnceCell<Valued>,
    /// The last valuation, kept across a change (out of `valued`) so that the next one values
    /// again only the accounts whose [`Versions`] moved, and sums again only their part.
    kept: RefCell<Kept>,
    /// Counts the changes: what is derived from the model is current while this is unchanged.
    version: u64,
    /// Per account (in the order of `accounts`), the `version` of its last change.
    account_versions: Vec<u64>,
    /// The `version` of the last change of prices.
    market_version: u64,
}

/// A valuation: the portfolio, the [`Versions`] each account's value is of, and the sums the
/// portfolio's totals are of.
#[derive(Debug)]
struct Valued {
    portfolio: Portfolio,
    versions: Vec<Versions>,
    totals: Totals,
}

/// A valuation kept across changes: each account's value with its [`Versions`], and their sums.
#[derive(Debug, Default)]
struct Kept {
    values: Vec<(Versions, portfolio::AccountValue)>,
    totals: Totals,
}

/// What one account's derived data (its value, its metrics) is of: the `version` of the
/// account's last change, and of the prices' last change. Both come from the model's one counter,
/// so a pair is never seen twice for different contents.
pub type Versions = (u64, u64);

/// One account as last heard of.
#[derive(Debug)]
pub struct AccountView {
    pub name: String,
    pub state: StreamState,
    /// When a snapshot, wallet or total last arrived.
    pub last_data: Option<Instant>,
    /// Keyed by (wallet type, currency).
    pub wallets: BTreeMap<(String, String), WalletEntry>,
    /// The last `bu` message (Bitfinex documents no unit, so it is kept, not valued).
    pub total: Option<(Decimal, Decimal)>,
    /// Open positions as last read over REST (the account stream does not carry them); `None`
    /// until read, when they are valued as none (as `bfx watch`, which does not read them).
    pub positions: Option<Result<Vec<Position>, AccountError>>,
}

#[derive(Debug)]
pub struct WalletEntry {
    pub row: WalletRow,
    /// When its balance last changed after the first snapshot (a first sight is not a change).
    pub changed_at: Option<Instant>,
    /// Its place in the order Bitfinex lists the wallets (the last snapshot's; a wallet first
    /// seen in a change comes after), so values list them as `bfx balances` does.
    pub order: usize,
}

/// An account's value in the quote currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountValue {
    /// No wallets heard of yet.
    Unknown,
    /// Live or polling (the last poll successful): the value is current (`None`: too large for a decimal). `unpriced`
    /// wallets are left out.
    Current { value: Option<Decimal>, unpriced: usize },
    /// Neither: the value is as of `age` ago, and may be wrong.
    Stale { value: Option<Decimal>, unpriced: usize, age: Duration },
}

/// One currency across every account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetLine {
    pub currency: String,
    pub name: String,
    /// `None` when the sum is too large for a decimal.
    pub balance: Option<Decimal>,
    /// `None` when unpriced (or paper).
    pub value: Option<Decimal>,
    /// Why `value` is `None`.
    pub unpriced: Option<Unpriced>,
    /// Some wallet of it changed within [`HIGHLIGHT`].
    pub changed: bool,
    /// Some of it comes from a stale account, or the prices are stale.
    pub stale: bool,
}

/// How current the prices are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceAge {
    /// No tickers yet.
    None,
    /// Every pair valuing what is held is followed live.
    Live,
    /// Some are not (the ticker stream is down, or a pair is not followed): the last REST fetch
    /// was this long ago.
    Fetched(Duration),
}

/// The total across accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrandTotal {
    /// `None` when too large for a decimal.
    pub value: Option<Decimal>,
    /// Accounts whose (last known) value is included but not current, failed ones aside.
    pub stale_accounts: usize,
    /// Accounts that failed for good: the total is incomplete (the last known value of one that
    /// had data is included, but nothing will update it).
    pub failed_accounts: usize,
    /// Wallets left out because they have no price.
    pub unpriced: usize,
    /// No tickers yet: nothing is valued.
    pub no_prices: bool,
    /// Prices are older than [`PRICES_STALE_AFTER`].
    pub stale_prices: bool,
}

impl AccountView {
    /// Live, or polling (for want of a socket, or while its socket is queued) with the last poll
    /// successful: what is shown is what the exchange has. (A failed poll,
    /// [`StreamState::PollFailed`], leaves the last snapshot standing: stale.)
    pub fn is_current(&self) -> bool {
        matches!(self.state, StreamState::Live | StreamState::Polling { .. } | StreamState::Queued { .. })
    }

    /// Failed for good: nothing will update it.
    pub fn has_failed(&self) -> bool {
        matches!(self.state, StreamState::Failed { .. })
    }

    /// Time since the last data, if any came.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.last_data.map(|at| now.saturating_duration_since(at))
    }
}

impl Model {
    pub fn new(quote: &str, kind: PriceKind, accounts: impl IntoIterator<Item = String>) -> Model {
        Model {
            quote: quote.to_owned(),
            kind,
            market: None,
            fetched_at: None,
            following: BTreeSet::new(),
            prices_live: false,
            live: BTreeMap::new(),
            accounts: accounts
                .into_iter()
                .map(|name| AccountView {
                    name,
                    state: StreamState::Connecting,
                    last_data: None,
                    wallets: BTreeMap::new(),
                    total: None,
                    positions: None,
                })
                .collect(),
            valued: OnceCell::new(),
            kept: RefCell::default(),
            version: 0,
            account_versions: Vec::new(),
            market_version: 0,
        }
    }

    /// Changes so far: anything derived from the model (its values, an encoding of it) is
    /// current while this has not moved.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// What account `index`'s value and metrics are of: they are current while these have not
    /// moved (an account not in the model has `(0, 0)`).
    pub fn versions(&self, index: usize) -> Versions {
        (self.account_versions.get(index).copied().unwrap_or_default(), self.market_version)
    }

    /// After every change: values are computed again when next asked for (those of accounts
    /// whose [`Versions`] did not move are kept).
    fn changed(&mut self) {
        if let Some(Valued { portfolio, versions, totals }) = self.valued.take() {
            let values = versions.into_iter().zip(portfolio.accounts).collect();
            self.kept = RefCell::new(Kept { values, totals });
        }
        self.version = self.version.wrapping_add(1);
    }

    /// After a change of account `index`.
    fn account_changed(&mut self, index: usize) {
        self.changed();
        if self.account_versions.len() <= index {
            self.account_versions.resize(index + 1, 0);
        }
        self.account_versions[index] = self.version;
    }

    /// After a change of prices: every account is valued again.
    fn market_changed(&mut self) {
        self.changed();
        self.market_version = self.version;
    }

    /// Prices (and display names) fetched over REST at `fetched_at` (at start, then every 10 s).
    /// Live tickers stay: the REST ones of their pairs are no newer. The same prices as before
    /// change only their age: nothing is valued again.
    pub fn set_market(&mut self, mut market: Market, fetched_at: Instant) {
        for ticker in self.live.values() {
            market.update(ticker);
        }
        self.fetched_at = Some(fetched_at);
        if self.market.as_ref() != Some(&market) {
            self.market = Some(market);
            self.market_changed();
        }
    }

    /// Applies one event of the ticker stream.
    pub fn apply_ticker(&mut self, event: TickerEvent) {
        match event {
            // Only while live (not during maintenance): what comes then may be replaced.
            TickerEvent::Ticker(ticker) if self.prices_live && self.following.contains(&ticker.symbol) => {
                if let Some(market) = &mut self.market
                    && market.update(&ticker)
                {
                    self.market_changed();
                }
                self.live.insert(ticker.symbol.clone(), ticker);
            }
            TickerEvent::Status(state) => {
                self.prices_live = state == StreamState::Live;
                // Down, REST fetches are newer than what the stream last said; live again, each
                // pair is live once its channel has sent its current ticker.
                self.live.clear();
            }
            _ => {}
        }
    }

    /// The pairs that value what is held now (each held currency's route to the quote), when
    /// they differ from those followed: the ticker stream is to follow these from now on.
    pub fn follow(&mut self) -> Option<BTreeSet<String>> {
        let market = self.market.as_ref()?;
        // Every currency of a wallet is one of the portfolio's assets (kept across changes: not
        // a pass over every wallet).
        let quoter = market.quoter(&self.quote, self.kind);
        let wanted: BTreeSet<String> = self
            .valued()
            .assets
            .iter()
            .filter_map(|asset| quoter.price(&asset.currency, false).ok())
            .flat_map(|price| price.route)
            .collect();
        if wanted == self.following {
            return None;
        }
        self.live.retain(|symbol, _| wanted.contains(symbol));
        self.following = wanted.clone();
        Some(wanted)
    }

    /// Prices are older than [`PRICES_STALE_AFTER`]: values are not current.
    pub fn prices_stale(&self, now: Instant) -> bool {
        matches!(self.price_age(now), PriceAge::Fetched(age) if age > PRICES_STALE_AFTER)
    }

    /// How current the prices are.
    pub fn price_age(&self, now: Instant) -> PriceAge {
        let Some(fetched_at) = self.fetched_at else { return PriceAge::None };
        // A pair past the stream's channel limit never sends a ticker, so it is never live.
        let all_live = self.prices_live && self.following.iter().all(|symbol| self.live.contains_key(symbol));
        match all_live {
            true => PriceAge::Live,
            false => PriceAge::Fetched(now.saturating_duration_since(fetched_at)),
        }
    }

    /// Applies one stream event of `account` (an unknown account is added).
    pub fn apply(&mut self, account: &str, event: StreamEvent, now: Instant) {
        let index = match self.accounts.iter().position(|a| a.name == account) {
            Some(index) => index,
            None => {
                self.accounts.extend(Model::new(&self.quote, self.kind, [account.to_owned()]).accounts);
                self.accounts.len() - 1
            }
        };
        self.account_changed(index);
        let view = &mut self.accounts[index];
        match event {
            StreamEvent::Snapshot { wallets } => {
                let first = view.last_data.is_none() && view.wallets.is_empty();
                let mut previous = std::mem::take(&mut view.wallets);
                let entries: Vec<_> = wallets
                    .into_iter()
                    .enumerate()
                    .map(|(order, row)| {
                        let key = (row.wallet_type.as_str().to_owned(), row.currency.clone());
                        let changed_at = match previous.remove(&key) {
                            Some(old) if old.row.balance == row.balance => old.changed_at,
                            Some(_) => Some(now),
                            None if first => None,
                            None => Some(now),
                        };
                        (key, WalletEntry { row, changed_at, order })
                    })
                    .collect();
                // Built at once (sorted, nodes filled) rather than entry by entry, which leaves
                // the nodes half empty: 20 wallets in 3 nodes instead of 4-5 (~2.5 KiB each). The
                // last of equal keys wins, as it did when each was inserted in turn.
                view.wallets = entries.into_iter().collect();
                view.last_data = Some(now);
            }
            StreamEvent::Wallet(row) => {
                let key = (row.wallet_type.as_str().to_owned(), row.currency.clone());
                let next = view.wallets.values().map(|w| w.order + 1).max().unwrap_or_default();
                let (changed_at, order) = match view.wallets.get(&key) {
                    Some(old) if old.row.balance == row.balance => (old.changed_at, old.order),
                    Some(old) => (Some(now), old.order),
                    None => (Some(now), next),
                };
                view.wallets.insert(key, WalletEntry { row, changed_at, order });
                view.last_data = Some(now);
            }
            StreamEvent::Total { aum, aum_net } => {
                view.total = Some((aum, aum_net));
                view.last_data = Some(now);
            }
            StreamEvent::Status(state) => view.state = state,
        }
    }

    /// Open positions of `account` read over REST (an error as `bfx balances --json` records it:
    /// the wallets stay valid). An unknown account is ignored.
    pub fn set_positions(&mut self, account: &str, positions: Result<Vec<Position>, AccountError>) {
        let Some(index) = self.accounts.iter().position(|a| a.name == account) else { return };
        // Read again every minute, usually the same: then nothing is valued or encoded again.
        if self.accounts[index].positions.as_ref() != Some(&positions) {
            self.accounts[index].positions = Some(positions);
            self.account_changed(index);
        }
    }

    /// Every account has had its first wallets (a snapshot, or one wallet) and, when `positions`,
    /// its first read of open positions (until then they are valued as none); otherwise the
    /// reasons.
    pub fn unready(&self, positions: bool) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.market.is_none() {
            reasons.push("no prices yet".to_owned());
        }
        for account in self.accounts.iter().filter(|a| a.last_data.is_none() && a.wallets.is_empty()) {
            let why = match account.state.error() {
                Some(error) => format!("account {:?}: no snapshot yet: {error}", account.name),
                None => format!("account {:?}: no snapshot yet", account.name),
            };
            reasons.push(why);
        }
        if positions {
            for account in self.accounts.iter().filter(|a| a.positions.is_none()) {
                reasons.push(format!("account {:?}: open positions not read yet", account.name));
            }
        }
        reasons
    }

    /// What every account's wallets are worth, as `bfx balances` values them (in the order of
    /// [`Model::accounts`]).
    pub fn valued(&self) -> &Portfolio {
        let valued = self.valued.get_or_init(|| {
            let valuation = Valuation { quote: self.quote.clone(), kind: self.kind, include_paper: false };
            // Made (its routes searched) only when some account is valued again.
            let mut pricer: Option<Pricer<'_>> = None;
            let Kept { values: kept, totals } = self.kept.take();
            // Sums are kept within one market: new prices value every account again, and sum
            // them from scratch.
            let same_market = kept.first().is_some_and(|((_, market), _)| *market == self.market_version);
            let mut totals = same_market.then_some(totals);
            let mut kept = kept.into_iter();
            let mut versions = Vec::with_capacity(self.accounts.len());
            let mut values = Vec::with_capacity(self.accounts.len());
            for (index, account) in self.accounts.iter().enumerate() {
                let current = self.versions(index);
                let value = match kept.next() {
                    Some((was, value)) if was == current && value.name == account.name => value,
                    old => {
                        let pricer =
                            pricer.get_or_insert_with(|| Pricer::new(self.market.as_ref(), &valuation));
                        let value = portfolio::value_account(&account_input(account), pricer);
                        if let Some(totals) = &mut totals {
                            if let Some((_, old)) = &old {
                                totals.remove(old);
                            }
                            totals.add(&value);
                        }
                        value
                    }
                };
                versions.push(current);
                values.push(value);
            }
            let totals = totals.unwrap_or_else(|| Totals::of(&values));
            let portfolio = totals.portfolio(values, self.market.as_ref(), &valuation);
            Valued { portfolio, versions, totals }
        });
        &valued.portfolio
    }

    pub fn has_prices(&self) -> bool {
        self.market.is_some()
    }

    /// An account's value, current or stale.
    pub fn account_value(&self, account: &AccountView, now: Instant) -> AccountValue {
        if account.last_data.is_none() && account.wallets.is_empty() {
            return AccountValue::Unknown;
        }
        let position = self.accounts.iter().position(|a| std::ptr::eq(a, account));
        let Some(found) = position.and_then(|i| self.valued().accounts.get(i)) else {
            return AccountValue::Unknown;
        };
        let (value, unpriced) = (found.total, found.wallets.iter().filter(|w| w.value.is_none()).count());
        match account.is_current() {
            true => AccountValue::Current { value, unpriced },
            false => AccountValue::Stale { value, unpriced, age: account.age(now).unwrap_or_default() },
        }
    }

    /// The sum over every account with data, saying how many of them are stale and how many
    /// accounts failed.
    pub fn grand_total(&self, now: Instant) -> GrandTotal {
        let valued = self.valued();
        let with_data = || self.accounts.iter().filter(|a| a.last_data.is_some() || !a.wallets.is_empty());
        GrandTotal {
            value: valued.total,
            stale_accounts: with_data().filter(|a| !a.is_current() && !a.has_failed()).count(),
            failed_accounts: self.accounts.iter().filter(|a| a.has_failed()).count(),
            unpriced: valued.accounts.iter().flat_map(|a| &a.wallets).filter(|w| w.value.is_none()).count(),
            no_prices: !self.has_prices(),
            stale_prices: self.prices_stale(now),
        }
    }

    /// Every currency held, summed across accounts and wallet types; most valuable first, then
    /// unpriced ones by id.
    pub fn assets(&self, now: Instant) -> Vec<AssetLine> {
        let prices_stale = self.prices_stale(now);
        // Per currency, in one pass: changed within HIGHLIGHT, held by an account not current.
        let mut flags: HashMap<&str, (bool, bool)> = HashMap::new();
        for account in &self.accounts {
            for entry in account.wallets.values() {
                let (changed, stale) = flags.entry(entry.row.currency.as_str()).or_default();
                *changed |= entry.changed_at.is_some_and(|at| now.saturating_duration_since(at) < HIGHLIGHT);
                *stale |= !account.is_current();
            }
        }
        self.valued()
            .assets
            .iter()
            .map(|asset| {
                let (changed, stale) = flags.get(asset.currency.as_str()).copied().unwrap_or_default();
                AssetLine {
                    currency: asset.currency.clone(),
                    name: asset.name.clone(),
                    balance: asset.balance,
                    value: asset.value,
                    unpriced: asset.unvalued.clone(),
                    changed,
                    stale: stale || prices_stale,
                }
            })
            .collect()
    }

    /// Every account has failed for good.
    pub fn all_failed(&self) -> bool {
        !self.accounts.is_empty() && self.accounts.iter().all(AccountView::has_failed)
    }
}

/// What `bfx balances` would have read of `account`: its wallets in Bitfinex's order and its
/// positions (none until read), or, failed before any data, its error.
fn account_input(account: &AccountView) -> AccountInput {
    match &account.state {
        // Failed before any data: an error, as `bfx balances --json` has it.
        StreamState::Failed { error } if account.last_data.is_none() && account.wallets.is_empty() => {
            AccountInput { name: account.name.clone(), holdings: Err(error.account_error()) }
        }
        _ => {
            let mut entries: Vec<&WalletEntry> = account.wallets.values().collect();
            entries.sort_by_key(|w| w.order);
            let wallets = entries.into_iter().map(|w| w.row.clone()).collect();
            let positions = account.positions.clone().unwrap_or(Ok(Vec::new()));
            AccountInput::read(&account.name, Holdings { wallets, positions })
        }
    }
}

/// Test fixtures shared with the CLI's view tests.
#[cfg(any(test, feature = "test-support"))]
#[allow(clippy::unwrap_used, reason = "test fixtures")]
pub mod fixtures {
    use super::*;

    pub fn row(wallet_type: &str, currency: &str, balance: &str) -> WalletRow {
        let json = format!(r#"[["{wallet_type}","{currency}",{balance},0,null,null,null]]"#);
        bfx_core::parse_wallets(json.as_bytes()).unwrap().remove(0)
    }

    /// BTC at 100000 USD, ETH at 4000 USD, TESTBTC paper, XYZ unpriced.
    pub fn market() -> Market {
        let json = r#"[["tBTCUSD",99999,1,100001,1,0,0,100000,1,0,0],["tETHUSD",3999,1,4001,1,0,0,4000,1,0,0],["tTESTBTC:TESTUSD",1,1,1,1,0,0,50000,1,0,0]]"#;
        Market::new(&bfx_core::parse_tickers(json.as_bytes()).unwrap(), &[])
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{market, row};
    use super::*;
    use crate::{Error, SocketError};
    use std::sync::Arc;

    fn snapshot(rows: Vec<WalletRow>) -> StreamEvent {
        StreamEvent::Snapshot { wallets: rows }
    }

    #[test]
    fn snapshots_replace_and_wallets_upsert() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["main".to_owned()]);
        model.set_market(market(), t0);
        model.apply("main", StreamEvent::Status(StreamState::Live), t0);
        model.apply("main", snapshot(vec![row("exchange", "BTC", "1"), row("margin", "ETH", "2")]), t0);
        let main = &model.accounts[0];
        assert_eq!(main.wallets.len(), 2);
        assert!(main.wallets.values().all(|w| w.changed_at.is_none()), "a first snapshot is no change");
        assert_eq!(
            model.account_value(main, t0),
            AccountValue::Current { value: Some("108000".parse().unwrap()), unpriced: 0 }
        );

        let t1 = t0 + Duration::from_secs(5);
        model.apply("main", StreamEvent::Wallet(row("exchange", "BTC", "1.5")), t1);
        model.apply("main", StreamEvent::Wallet(row("funding", "BTC", "0.5")), t1);
        let main = &model.accounts[0];
        assert_eq!(main.wallets.len(), 3);
        assert_eq!(main.wallets[&("exchange".into(), "BTC".into())].row.balance, "1.5".parse().unwrap());
        assert_eq!(main.last_data, Some(t1));

        // A snapshot replaces: the margin ETH wallet is gone.
        let t2 = t1 + Duration::from_secs(5);
        model.apply("main", snapshot(vec![row("exchange", "BTC", "1.5")]), t2);
        let main = &model.accounts[0];
        assert_eq!(main.wallets.len(), 1);
        assert_eq!(
            main.wallets[&("exchange".into(), "BTC".into())].changed_at,
            Some(t1),
            "unchanged keeps its time"
        );

        model.apply(
            "main",
            StreamEvent::Total { aum: "7".parse().unwrap(), aum_net: "6".parse().unwrap() },
            t2,
        );
        assert_eq!(model.accounts[0].total, Some(("7".parse().unwrap(), "6".parse().unwrap())));
    }

    /// Values kept across changes are those a valuation from scratch finds, after every kind of
    /// change; a change of one account is in its value at once, a change of prices in every one.
    #[test]
    fn kept_values_are_those_valued_from_scratch() {
        let t0 = Instant::now();
        let names = ["a", "b", "c"].map(str::to_owned);
        let mut model = Model::new("USD", PriceKind::Last, names.clone());
        let from_scratch = |model: &Model| {
            let inputs: Vec<AccountInput> = model.accounts.iter().map(account_input).collect();
            let valuation = Valuation { quote: "USD".into(), kind: PriceKind::Last, include_paper: false };
            serde_json::to_string(&portfolio::value(&inputs, model.market.as_ref(), &valuation)).unwrap()
        };
        let check = |model: &Model| {
            assert_eq!(serde_json::to_string(model.valued()).unwrap(), from_scratch(model));
        };
        let total = |model: &Model, i: usize| model.valued().accounts[i].total.map(|t| t.to_string());
        check(&model);
        for name in &names {
            model.apply(name, StreamEvent::Status(StreamState::Live), t0);
            model.apply(name, snapshot(vec![row("exchange", "BTC", "1"), row("exchange", "XYZ", "2")]), t0);
        }
        check(&model);
        model.set_market(market(), t0);
        check(&model);
        assert_eq!(total(&model, 1).as_deref(), Some("100000"));
        model.apply("a", StreamEvent::Wallet(row("exchange", "ETH", "1")), t0);
        assert_eq!(total(&model, 0).as_deref(), Some("104000"), "a's change is in a's value");
        assert_eq!(total(&model, 1).as_deref(), Some("100000"));
        check(&model);
        model.set_positions("b", Ok(Vec::new()));
        model.set_positions(
            "c",
            Err(AccountError { code: Some(10001), message: "no".into(), kind: "permission".into() }),
        );
        check(&model);
        let error = Arc::new(Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() });
        model.apply("d", StreamEvent::Status(StreamState::Failed { error }), t0);
        check(&model);
        model.apply_ticker(TickerEvent::Status(StreamState::Live));
        let _ = model.follow();
        model.apply_ticker(ticker("tBTCUSD", "110000"));
        for i in 0..3 {
            let expected = if i == 0 { "114000" } else { "110000" };
            assert_eq!(total(&model, i).as_deref(), Some(expected), "a price change values every account");
        }
        check(&model);
        model.apply("b", snapshot(vec![row("margin", "ETH", "3")]), t0);
        check(&model);
        assert_eq!(total(&model, 1).as_deref(), Some("12000"));
    }

    /// Prices that come again unchanged (the REST refresh every 10 s, a ticker repeated) change
    /// their age only: nothing is valued or encoded again. Different ones change every account.
    #[test]
    fn the_same_prices_again_change_nothing() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["a".to_owned()]);
        model.set_market(market(), t0);
        model.apply("a", snapshot(vec![row("exchange", "BTC", "1")]), t0);
        model.apply_ticker(TickerEvent::Status(StreamState::Live));
        let _ = model.follow();
        model.apply_ticker(ticker("tBTCUSD", "110000"));
        let (version, versions) = (model.version(), model.versions(0));

        let t1 = t0 + Duration::from_secs(10);
        model.set_market(market(), t1);
        model.apply_ticker(ticker("tBTCUSD", "110000"));
        assert_eq!((model.version(), model.versions(0)), (version, versions));
        assert_eq!(model.fetched_at, Some(t1), "the prices' age is the refresh's");
        assert_eq!(
            model.valued().accounts[0].total,
            Some("110000".parse().unwrap()),
            "the live ticker stays"
        );

        model.apply_ticker(ticker("tBTCUSD", "111000"));
        assert!(model.version() > version && model.versions(0).1 > versions.1);
        assert_eq!(model.valued().accounts[0].total, Some("111000".parse().unwrap()));
        let mut other = market();
        other.update(&bfx_core::parse_trading_ticker("tETHUSD", b"[1,1,1,1,0,0,4100,1,0,0]").unwrap());
        let before = model.version();
        model.set_market(other, t1);
        assert!(model.version() > before, "a refresh with another price is a change");
    }

    #[test]
    fn the_same_positions_again_change_nothing() {
        let mut model = Model::new("USD", PriceKind::Last, ["a".to_owned(), "b".to_owned()]);
        model.set_market(market(), Instant::now());
        let long = || {
            bfx_core::parse_positions(br#"[["tBTCUSD","ACTIVE",0.5,90000,0,0,4900,null,null,null,null,1]]"#)
                .unwrap()
        };
        model.set_positions("a", Ok(Vec::new()));
        let (version, versions) = (model.version(), model.versions(0));
        model.set_positions("a", Ok(Vec::new()));
        assert_eq!((model.version(), model.versions(0)), (version, versions));
        model.set_positions("a", Ok(long()));
        assert!(model.versions(0).0 > versions.0, "another position is a change");
        assert_eq!(model.valued().accounts[0].positions_pl, Some("4900".parse().unwrap()));
        let version = model.version();
        model.set_positions("a", Ok(long()));
        model.set_positions("nobody", Ok(Vec::new()));
        assert_eq!(model.version(), version);
        model.set_positions("b", Ok(Vec::new()));
        assert!(model.version() > version, "a first read is a change");
    }

    #[test]
    fn values_list_wallets_in_the_order_bitfinex_sent_them() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["main".to_owned()]);
        model.set_market(market(), t0);
        let rows = vec![row("margin", "USD", "1"), row("exchange", "ETH", "1"), row("exchange", "BTC", "1")];
        model.apply("main", snapshot(rows), t0);
        model.apply("main", StreamEvent::Wallet(row("funding", "BTC", "1")), t0);
        model.apply("main", StreamEvent::Wallet(row("exchange", "ETH", "2")), t0);
        let listed: Vec<(&str, &str)> = model.valued().accounts[0]
            .wallets
            .iter()
            .map(|w| (w.wallet_type.as_str(), w.currency.as_str()))
            .collect();
        assert_eq!(
            listed,
            [("margin", "USD"), ("exchange", "ETH"), ("exchange", "BTC"), ("funding", "BTC")],
            "a change keeps its wallet's place; a new wallet comes last"
        );
    }

    #[test]
    fn totals_leave_out_unpriced_and_paper() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["main".to_owned(), "paper".to_owned()]);
        model.apply("main", StreamEvent::Status(StreamState::Live), t0);
        model.apply("main", snapshot(vec![row("exchange", "BTC", "1"), row("exchange", "XYZ", "5")]), t0);
        model.apply("paper", StreamEvent::Status(StreamState::Live), t0);
        model.apply("paper", snapshot(vec![row("exchange", "TESTBTC", "1")]), t0);
        assert!(model.grand_total(t0).no_prices);
        model.set_market(market().with_names([("BTC".to_owned(), "Bitcoin".to_owned())]), t0);
        let total = model.grand_total(t0);
        assert_eq!(
            total,
            GrandTotal {
                value: Some("100000".parse().unwrap()),
                stale_accounts: 0,
                failed_accounts: 0,
                unpriced: 2,
                no_prices: false,
                stale_prices: false
            }
        );
        let assets = model.assets(t0);
        assert_eq!(
            assets.iter().map(|a| (a.name.as_str(), a.value)).collect::<Vec<_>>(),
            [("Bitcoin", Some("100000".parse().unwrap())), ("TESTBTC", None), ("XYZ", None)]
        );
    }

    #[test]
    fn ready_once_prices_every_first_snapshot_and_positions_are_in() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            model.unready(false),
            ["no prices yet", "account \"a\": no snapshot yet", "account \"b\": no snapshot yet"]
        );
        model.set_market(market(), t0);
        model.apply("a", snapshot(vec![row("exchange", "BTC", "1")]), t0);
        let error = Arc::new(Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() });
        model.apply("b", StreamEvent::Status(StreamState::Failed { error }), t0);
        let reasons = model.unready(false);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(reasons[0].starts_with("account \"b\": no snapshot yet: "), "{reasons:?}");
        model.apply("b", snapshot(Vec::new()), t0);
        assert!(model.unready(false).is_empty());
        assert_eq!(
            model.unready(true),
            ["account \"a\": open positions not read yet", "account \"b\": open positions not read yet"]
        );
        model.set_positions("a", Ok(Vec::new()));
        model.set_positions(
            "b",
            Err(AccountError { code: Some(10001), message: "no".into(), kind: "permission".into() }),
        );
        assert!(model.unready(true).is_empty());
    }

    #[test]
    fn only_live_or_polling_is_current() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["a".to_owned()]);
        model.set_market(market(), t0);
        assert_eq!(model.account_value(&model.accounts[0], t0), AccountValue::Unknown);
        model.apply("a", snapshot(vec![row("exchange", "BTC", "1")]), t0);
        let later = t0 + Duration::from_secs(12);
        let value: Decimal = "100000".parse().unwrap();
        let states = [
            (StreamState::Connecting, false),
            (StreamState::Live, true),
            (
                StreamState::Polling {
                    error: Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false })),
                },
                true,
            ),
            (StreamState::Queued { opens_in: Duration::from_secs(600) }, true),
            (
                StreamState::PollFailed {
                    error: Arc::new(Error::Api {
                        endpoint: "auth/r/wallets",
                        status: 500,
                        code: 20060,
                        message: "maintenance".into(),
                    }),
                },
                false,
            ),
            (
                StreamState::Reconnecting {
                    attempt: 1,
                    after: Duration::from_secs(1),
                    error: Arc::new(Error::Socket(SocketError::Ended { awaiting_auth: false })),
                },
                false,
            ),
            (StreamState::Maintenance, false),
            (
                StreamState::Failed {
                    error: Arc::new(Error::WsAuth { code: Some(10100), message: "apikey: invalid".into() }),
                },
                false,
            ),
        ];
        for (state, current) in states {
            let failed = matches!(state, StreamState::Failed { .. });
            model.apply("a", StreamEvent::Status(state.clone()), later);
            let expected = match current {
                true => AccountValue::Current { value: Some(value), unpriced: 0 },
                false => {
                    AccountValue::Stale { value: Some(value), unpriced: 0, age: Duration::from_secs(12) }
                }
            };
            assert_eq!(model.account_value(&model.accounts[0], later), expected, "{state:?}");
            // A failed account makes the total incomplete rather than stale.
            let total = model.grand_total(later);
            assert_eq!(total.stale_accounts, usize::from(!current && !failed), "{state:?}");
            assert_eq!(total.failed_accounts, usize::from(failed), "{state:?}");
        }
        assert!(model.all_failed());
    }

    #[test]
    fn a_change_is_highlighted_for_two_seconds() {
        let t0 = Instant::now();
        let mut model = Model::new("USD", PriceKind::Last, ["a".to_owned()]);
        model.apply("a", StreamEvent::Status(StreamState::Live), t0);
        model.apply("a", snapshot(vec![row("exchange", "BTC", "1"), row("exchange", "ETH", "1")]), t0);
        assert!(model.assets(t0).iter().all(|a| !a.changed));
        let t1 = t0 + Duration::from_secs(10);
        model.apply("a", StreamEvent::Wallet(row("exchange", "BTC", "2")), t1);
        fn changed(model: &Model, now: Instant) -> Vec<String> {
            model.assets(now).into_iter().filter(|a| a.changed).map(|a| a.currency).collect()
        }
        assert_eq!(changed(&model, t1), ["BTC"]);
        assert_eq!(changed(&model, t1 + Duration::from_millis(1999)), ["BTC"]);
        assert!(changed(&model, t1 + HIGHLIGHT).is_empty());
        // The same balance again is not a change; a resync snapshot with a new one is.
        let t2 = t1 + Duration::from_secs(10);
        model.apply("a", StreamEvent::Wallet(row("exchange", "BTC", "2")), t2);
        assert!(changed(&model, t2).is_empty());
        model.apply("a", snapshot(vec![row("exchange", "BTC", "2"), row("exchange", "ETH", "3")]), t2);
        assert_eq!(changed(&model, t2), ["ETH"]);
    }

    fn ticker(symbol: &str, last: &str) -> TickerEvent {
        let row = format!("[1,1,1,1,0,0,{last},1,0,0]");
        TickerEvent::Ticker(bfx_core::parse_trading_ticker(symbol, row.as_bytes()).unwrap())
    }

    #[test]
    fn live_tickers_value_holdings_and_outlive_older_rest_fetches() {
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut model = Model::new("USD", PriceKind::Last, ["main".to_owned()]);
        model.apply("main", StreamEvent::Status(StreamState::Live), t0);
        model.apply("main", snapshot(vec![row("exchange", "BTC", "1"), row("exchange", "ETH", "2")]), t0);
        assert_eq!(model.follow(), None, "no market yet: nothing to follow");
        assert_eq!(model.price_age(t0), PriceAge::None);
        model.set_market(market(), t0);
        let both = BTreeSet::from(["tBTCUSD".to_owned(), "tETHUSD".to_owned()]);
        assert_eq!(model.follow(), Some(both));
        assert_eq!(model.follow(), None, "unchanged");
        let value = |model: &Model, now| match model.account_value(&model.accounts[0], now) {
            AccountValue::Current { value: Some(value), .. } => value.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(model.price_age(at(5)), PriceAge::Fetched(Duration::from_secs(5)));

        model.apply_ticker(TickerEvent::Status(StreamState::Live));
        model.apply_ticker(ticker("tBTCUSD", "110000.5"));
        model.apply_ticker(ticker("tXYZUSD", "1"));
        assert_eq!(value(&model, at(6)), "118000.5");
        assert_eq!(model.price_age(at(6)), PriceAge::Fetched(Duration::from_secs(6)), "ETH is not live yet");
        model.apply_ticker(ticker("tETHUSD", "4000"));
        assert_eq!(model.price_age(at(7)), PriceAge::Live);
        // A REST fetch (of older prices) does not undo live ones; prices do not age while live.
        model.set_market(market(), at(10));
        assert_eq!(value(&model, at(10)), "118000.5");
        assert!(!model.grand_total(at(100)).stale_prices);

        // The stream goes down (maintenance): REST prices count again, and age; what the stream
        // sends meanwhile is not taken.
        model.apply_ticker(TickerEvent::Status(StreamState::Maintenance));
        model.apply_ticker(ticker("tBTCUSD", "1"));
        assert_eq!(value(&model, at(40)), "118000.5");
        assert_eq!(model.price_age(at(40)), PriceAge::Fetched(Duration::from_secs(30)));
        assert!(!model.grand_total(at(40)).stale_prices);
        assert!(model.grand_total(at(41)).stale_prices);
        model.set_market(market(), at(41));
        assert_eq!(value(&model, at(41)), "108000");
        // Live again: not all live until every pair has sent its current ticker.
        model.apply_ticker(TickerEvent::Status(StreamState::Live));
        model.apply_ticker(ticker("tBTCUSD", "100000"));
        assert_eq!(model.price_age(at(41)), PriceAge::Fetched(Duration::ZERO));
        assert!(!model.grand_total(at(41)).stale_prices);

        // ETH is sold: only BTC's pair is followed, and a late ETH ticker is ignored.
        model.apply("main", snapshot(vec![row("exchange", "BTC", "1")]), at(42));
        assert_eq!(model.follow(), Some(BTreeSet::from(["tBTCUSD".to_owned()])));
        model.apply_ticker(TickerEvent::Status(StreamState::Live));
        model.apply_ticker(ticker("tETHUSD", "1"));
        model.apply_ticker(ticker("tBTCUSD", "99000"));
        assert_eq!(model.price_age(at(43)), PriceAge::Live);
        model.apply("main", snapshot(vec![row("exchange", "BTC", "1"), row("exchange", "ETH", "1")]), at(44));
        assert_eq!(value(&model, at(44)), "103000", "ETH at the REST price, not the ignored 1");
    }

    #[test]
    fn values_and_followed_pairs_follow_the_quote_and_price_kind() {
        let t0 = Instant::now();
        let json =
            r#"[["tBTCEUR",90000,1,90010,1,0,0,90005,1,0,0],["tBTCUSD",99999,1,100001,1,0,0,100000,1,0,0]]"#;
        let market = Market::new(&bfx_core::parse_tickers(json.as_bytes()).unwrap(), &[]);
        let mut model = Model::new("EUR", PriceKind::Bid, ["main".to_owned()]);
        model.apply("main", StreamEvent::Status(StreamState::Live), t0);
        model.apply("main", snapshot(vec![row("exchange", "BTC", "2")]), t0);
        model.set_market(market, t0);
        let value = |model: &Model| model.grand_total(t0).value.unwrap().to_string();
        assert_eq!(value(&model), "180000", "BTC at the tBTCEUR bid");
        assert_eq!(model.follow(), Some(BTreeSet::from(["tBTCEUR".to_owned()])));
        model.apply_ticker(TickerEvent::Status(StreamState::Live));
        let row = "[91000,1,91010,1,0,0,1,1,0,0]";
        model.apply_ticker(TickerEvent::Ticker(
            bfx_core::parse_trading_ticker("tBTCEUR", row.as_bytes()).unwrap(),
        ));
        assert_eq!(value(&model), "182000", "the live bid, not the live last price");
    }
}
