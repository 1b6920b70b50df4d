//! The ledger each emulated account keeps (`auth/r/ledgers/…/hist`): every balance change, with
//! the wallet's balance after it, kept sorted by (MTS, ID) so a page is a binary search and a walk.
//!
//! Entries are compact (benchmarks load millions): currency, wallet and description are interned
//! per account, amounts are `Decimal`s, and only entries from a state file keep their number texts
//! (served verbatim, as wallet balances are). A description's category is derived once, when it is
//! interned, with `bfx_core::ledger::category`, the rule Bitfinex's own report tool follows.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use bfx_core::format_decimal;
use bfx_core::ledger::category;
use rust_decimal::Decimal;

use crate::reply::quoted;

/// Entries one account may hold; past it, appends are refused (memory stays bounded).
pub(crate) const MAX_ENTRIES: usize = 20_000_000;
/// JSON clients read ids and times as doubles: nothing above 2^53 − 1 survives that.
pub(crate) const MAX_EXACT: i64 = (1 << 53) - 1;

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LedgerError {
    #[error("the ledger is full ({MAX_ENTRIES} entries per account)")]
    Full,
    #[error("ledger ids would pass 2^53 - 1")]
    IdsExhausted,
    #[error("{0} cannot be held exactly")]
    Overflow(String),
}

/// One account's ledger.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ledger {
    /// Sorted by (mts, id), ascending.
    entries: Vec<Entry>,
    names: Names,
    /// The largest id held (0 when empty): appended entries take the ids above it.
    max_id: i64,
}

#[derive(Debug, Clone)]
struct Entry {
    id: i64,
    mts: i64,
    amount: Decimal,
    balance: Decimal,
    currency: u32,
    wallet: u32,
    description: u32,
    /// The number texts a state file gave, served instead of the decimals.
    texts: Option<Box<Texts>>,
}

#[derive(Debug, Clone)]
struct Texts {
    amount: Box<str>,
    balance: Box<str>,
}

/// An entry to add. `texts` are the amount and balance as they must be served (else the decimals,
/// normalised).
#[derive(Debug, Clone)]
pub(crate) struct NewEntry<'a> {
    pub(crate) id: i64,
    pub(crate) currency: &'a str,
    pub(crate) wallet: &'a str,
    pub(crate) mts: i64,
    pub(crate) amount: Decimal,
    pub(crate) balance: Decimal,
    pub(crate) description: &'a str,
    pub(crate) texts: Option<(String, String)>,
}

/// An entry as read back (tests, the admin API's answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryView {
    pub(crate) id: i64,
    pub(crate) currency: String,
    pub(crate) wallet: String,
    pub(crate) mts: i64,
    pub(crate) amount: String,
    pub(crate) balance: String,
    pub(crate) description: String,
}

/// A page request, already validated: `start..=end` on MTS, at most `limit` rows, filters.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Query<'a> {
    pub(crate) currency: Option<&'a str>,
    pub(crate) wallet: Option<&'a str>,
    pub(crate) category: Option<i64>,
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) limit: usize,
}

#[derive(Debug, Clone, Default)]
struct Names {
    list: Vec<Name>,
    index: HashMap<Arc<str>, u32>,
}

#[derive(Debug, Clone)]
struct Name {
    text: Arc<str>,
    /// The text as a JSON string literal, ready for rows.
    json: Box<str>,
    /// Bitfinex's category code when the name is a description that has one.
    category: Option<u16>,
}

impl Names {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&at) = self.index.get(text) {
            return at;
        }
        let at = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        let text: Arc<str> = Arc::from(text);
        self.list.push(Name {
            json: quoted(&text).into_boxed_str(),
            category: category(&text).map(|c| c.0),
            text: text.clone(),
        });
        self.index.insert(text, at);
        at
    }

    fn find(&self, text: &str) -> Option<u32> {
        self.index.get(text).copied()
    }

    // Every index stored in an entry came from `intern`: the fallbacks below are never taken.
    fn text(&self, at: u32) -> &str {
        self.list.get(at as usize).map_or("", |n| &n.text)
    }

    fn json(&self, at: u32) -> &str {
        self.list.get(at as usize).map_or("null", |n| &n.json)
    }

    fn category(&self, at: u32) -> Option<u16> {
        self.list.get(at as usize).and_then(|n| n.category)
    }
}

impl Ledger {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The id the next appended entry takes.
    pub(crate) fn next_id(&self) -> Result<i64, LedgerError> {
        let next = self.max_id + 1;
        if next > MAX_EXACT {
            return Err(LedgerError::IdsExhausted);
        }
        Ok(next)
    }

    /// The MTS of the newest entry, if any.
    pub(crate) fn newest_mts(&self) -> Option<i64> {
        self.entries.last().map(|e| e.mts)
    }

    /// Checks that `more` entries fit.
    pub(crate) fn room_for(&self, more: usize) -> Result<(), LedgerError> {
        match self.entries.len().checked_add(more) {
            Some(total) if total <= MAX_ENTRIES => Ok(()),
            _ => Err(LedgerError::Full),
        }
    }

    /// Adds entries in any order (ids unique: the callers check), then restores the sort.
    pub(crate) fn extend<'a>(
        &mut self,
        new: impl IntoIterator<Item = NewEntry<'a>>,
    ) -> Result<(), LedgerError> {
        let before = self.entries.len();
        for entry in new {
            self.room_for(1)?;
            let entry = Entry {
                id: entry.id,
                mts: entry.mts,
                amount: entry.amount,
                balance: entry.balance,
                currency: self.names.intern(entry.currency),
                wallet: self.names.intern(entry.wallet),
                description: self.names.intern(entry.description),
                texts: entry.texts.map(|(amount, balance)| {
                    Box::new(Texts { amount: amount.into_boxed_str(), balance: balance.into_boxed_str() })
                }),
            };
            self.max_id = self.max_id.max(entry.id);
            self.entries.push(entry);
        }
        let key = |e: &Entry| (e.mts, e.id);
        let tail = self.entries.get(before.saturating_sub(1)..).unwrap_or_default();
        if !tail.is_sorted_by_key(key) {
            self.entries.sort_unstable_by_key(key);
        }
        Ok(())
    }

    /// Appends one entry after every other: its MTS is raised to the newest one's if lower, so it
    /// stays the newest of its chain.
    pub(crate) fn append(&mut self, mut entry: NewEntry<'_>) -> Result<EntryView, LedgerError> {
        entry.mts = entry.mts.max(self.newest_mts().unwrap_or(0));
        let id = entry.id;
        self.extend([entry])?;
        let appended = self.entries.iter().rev().find(|e| e.id == id);
        Ok(appended.map(|e| self.view(e)).unwrap_or_else(|| EntryView {
            id,
            currency: String::new(),
            wallet: String::new(),
            mts: 0,
            amount: String::new(),
            balance: String::new(),
            description: String::new(),
        }))
    }

    fn view(&self, e: &Entry) -> EntryView {
        EntryView {
            id: e.id,
            currency: self.names.text(e.currency).to_owned(),
            wallet: self.names.text(e.wallet).to_owned(),
            mts: e.mts,
            amount: e.texts.as_ref().map_or_else(|| format_decimal(e.amount), |t| t.amount.to_string()),
            balance: e.texts.as_ref().map_or_else(|| format_decimal(e.balance), |t| t.balance.to_string()),
            description: self.names.text(e.description).to_owned(),
        }
    }

    /// Every entry, oldest first (tests).
    #[cfg(test)]
    pub(crate) fn views(&self) -> Vec<EntryView> {
        self.entries.iter().map(|e| self.view(e)).collect()
    }

    /// The page `query` asks for, newest first (MTS, then ID, descending), as the JSON body.
    pub(crate) fn page(&self, query: &Query<'_>) -> String {
        let mut body = String::from("[");
        let by_name = |name: Option<&str>| match name {
            None => Some(None),
            Some(name) => self.names.find(name).map(Some),
        };
        // A currency or wallet no entry uses: nothing matches.
        let (Some(currency), Some(wallet)) = (by_name(query.currency), by_name(query.wallet)) else {
            body.push(']');
            return body;
        };
        let end = query.end.unwrap_or(i64::MAX);
        let start = query.start.unwrap_or(i64::MIN);
        let upto = self.entries.partition_point(|e| e.mts <= end);
        let rows = self.entries[..upto]
            .iter()
            .rev()
            .take_while(|e| e.mts >= start)
            .filter(|e| currency.is_none_or(|c| e.currency == c))
            .filter(|e| wallet.is_none_or(|w| e.wallet == w))
            .filter(|e| {
                query.category.is_none_or(|code| {
                    self.names.category(e.description).is_some_and(|c| i64::from(c) == code)
                })
            })
            .take(query.limit);
        for (n, e) in rows.enumerate() {
            if n > 0 {
                body.push(',');
            }
            self.write_row(&mut body, e);
        }
        body.push(']');
        body
    }

    /// `[ID, CURRENCY, WALLET, MTS, null, AMOUNT, BALANCE, null, DESCRIPTION]`.
    fn write_row(&self, out: &mut String, e: &Entry) {
        let (currency, wallet) = (self.names.json(e.currency), self.names.json(e.wallet));
        let _ = write!(out, "[{},{currency},{wallet},{},null,", e.id, e.mts);
        match &e.texts {
            Some(t) => {
                let _ = write!(out, "{},{}", t.amount, t.balance);
            }
            None => {
                let _ = write!(out, "{},{}", format_decimal(e.amount), format_decimal(e.balance));
            }
        }
        let _ = write!(out, ",null,{}]", self.names.json(e.description));
    }
}

/// A run of synthetic entries for one wallet (the admin API's bulk generation).
#[derive(Debug, Clone)]
pub(crate) struct Synthetic<'a> {
    pub(crate) currency: &'a str,
    pub(crate) wallet: &'a str,
    pub(crate) count: usize,
    /// The first group's MTS and the last's; groups are spread evenly between them.
    pub(crate) from_mts: i64,
    pub(crate) to_mts: i64,
    /// Consecutive entries sharing one MTS (at least 1).
    pub(crate) same_mts: usize,
    /// The descriptions of even and odd entries.
    pub(crate) descriptions: [&'a str; 2],
}

/// What a synthetic run added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generated {
    pub(crate) first_id: i64,
    pub(crate) last_id: i64,
    /// The wallet's balance after the last entry.
    pub(crate) balance: Decimal,
}

impl Ledger {
    /// Appends `run.count` deterministic entries continuing the chain from `balance`: entry `2k`
    /// adds `x_k` and entry `2k + 1` takes back half of it, with `x_k = ((7919 k) mod 100000 + 1)
    /// × 10^-8`, so the balance never falls below where it started. Nothing is added on error.
    pub(crate) fn generate(
        &mut self,
        run: &Synthetic<'_>,
        balance: Decimal,
    ) -> Result<Generated, LedgerError> {
        self.room_for(run.count)?;
        let first_id = self.next_id()?;
        let count = i64::try_from(run.count).map_err(|_| LedgerError::Full)?;
        let last_id =
            first_id.checked_add(count - 1).filter(|id| *id <= MAX_EXACT).ok_or(LedgerError::IdsExhausted)?;
        let same = run.same_mts.max(1);
        let groups = i128::try_from(run.count.div_ceil(same)).map_err(|_| LedgerError::Full)?;
        let span = i128::from(run.to_mts) - i128::from(run.from_mts);
        let (currency, wallet) = (self.names.intern(run.currency), self.names.intern(run.wallet));
        let descriptions = [self.names.intern(run.descriptions[0]), self.names.intern(run.descriptions[1])];
        let before = self.entries.len();
        self.entries.reserve(run.count);
        let mut balance = balance;
        for i in 0..run.count {
            let k = (i / 2) as i64;
            let raw = (k.wrapping_mul(7919)).rem_euclid(100_000) + 1;
            let amount = if i % 2 == 0 { Decimal::new(raw, 8) } else { Decimal::new(-raw * 5, 9) };
            balance = match exact_add(balance, amount) {
                Ok(b) => b,
                Err(e) => {
                    self.entries.truncate(before);
                    return Err(e);
                }
            };
            let group = (i / same) as i128;
            let offset = if groups > 1 { span * group / (groups - 1) } else { 0 };
            let mts = i64::try_from(i128::from(run.from_mts) + offset).unwrap_or(run.to_mts);
            self.entries.push(Entry {
                id: first_id + i as i64,
                mts,
                amount,
                balance,
                currency,
                wallet,
                description: descriptions[i % 2],
                texts: None,
            });
        }
        self.max_id = self.max_id.max(last_id);
        let key = |e: &Entry| (e.mts, e.id);
        let tail = self.entries.get(before.saturating_sub(1)..).unwrap_or_default();
        if !tail.is_sorted_by_key(key) {
            self.entries.sort_unstable_by_key(key);
        }
        Ok(Generated { first_id, last_id, balance })
    }
}

/// `a + b`, exactly: `Decimal` rounds a result that needs more than its 28–29 digits, and a
/// narrower scale than either operand's shows it did.
pub(crate) fn exact_add(a: Decimal, b: Decimal) -> Result<Decimal, LedgerError> {
    match a.checked_add(b) {
        Some(sum) if sum.scale() >= a.scale().max(b.scale()) => Ok(sum),
        _ => Err(LedgerError::Overflow(format!("{a} + {b}"))),
    }
}

/// `a - b`, exactly (see [`exact_add`]).
pub(crate) fn exact_sub(a: Decimal, b: Decimal) -> Result<Decimal, LedgerError> {
    exact_add(a, -b).map_err(|_| LedgerError::Overflow(format!("{a} - {b}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn entry(id: i64, mts: i64, currency: &'static str, description: &'static str) -> NewEntry<'static> {
        NewEntry {
            id,
            currency,
            wallet: "exchange",
            mts,
            amount: dec("1.5"),
            balance: dec("3"),
            description,
            texts: None,
        }
    }

    #[test]
    fn pages_are_newest_first_and_filtered() {
        let mut ledger = Ledger::default();
        ledger
            .extend([
                entry(3, 20, "BTC", "Deposit (BTC) #1 on wallet exchange"),
                entry(1, 10, "BTC", "Adjustment on wallet exchange"),
                entry(2, 20, "ETH", "Deposit (ETH) #2 on wallet exchange"),
                entry(4, 30, "BTC", "Something new on wallet exchange"),
            ])
            .unwrap();
        let ids = |q: Query<'_>| -> Vec<i64> {
            let body = ledger.page(&q);
            bfx_core::parse_ledgers(body.as_bytes()).unwrap().iter().map(|e| e.id).collect()
        };
        let all = Query { limit: 10, ..Query::default() };
        assert_eq!(ids(all), [4, 3, 2, 1]);
        assert_eq!(ids(Query { limit: 2, ..all }), [4, 3]);
        assert_eq!(ids(Query { start: Some(20), end: Some(20), ..all }), [3, 2]);
        assert_eq!(ids(Query { currency: Some("BTC"), ..all }), [4, 3, 1]);
        assert_eq!(ids(Query { currency: Some("XRP"), ..all }), Vec::<i64>::new());
        assert_eq!(ids(Query { category: Some(101), ..all }), [3, 2]);
        assert_eq!(ids(Query { category: Some(401), ..all }), [1]);
        assert_eq!(ids(Query { wallet: Some("margin"), ..all }), Vec::<i64>::new());
        assert_eq!((ledger.next_id(), ledger.newest_mts(), ledger.len()), (Ok(5), Some(30), 4));
    }

    #[test]
    fn texts_are_served_verbatim_and_rows_have_nine_fields() {
        let mut ledger = Ledger::default();
        let mut e = entry(7, 1, "BTC", "Deposit \"x\" on wallet exchange");
        e.texts = Some(("1e-8".into(), "1.50".into()));
        ledger.extend([e]).unwrap();
        assert_eq!(
            ledger.page(&Query { limit: 1, ..Query::default() }),
            r#"[[7,"BTC","exchange",1,null,1e-8,1.50,null,"Deposit \"x\" on wallet exchange"]]"#
        );
    }

    #[test]
    fn appends_stay_newest_and_exact_sums_refuse_rounding() {
        let mut ledger = Ledger::default();
        ledger.extend([entry(1, 100, "BTC", "Adjustment on wallet exchange")]).unwrap();
        let view = ledger.append(entry(2, 50, "BTC", "Adjustment on wallet exchange")).unwrap();
        assert_eq!((view.id, view.mts), (2, 100));
        assert_eq!(exact_add(dec("1.1"), dec("2.25")), Ok(dec("3.35")));
        assert!(
            exact_add(dec("79000000000000000000000000000"), dec("79000000000000000000000000000")).is_err()
        );
        assert!(exact_add(dec("1.5"), dec("7.0000000000000000000000000001")).is_err());
        assert_eq!(exact_sub(dec("1"), dec("0.25")), Ok(dec("0.75")));
    }
}
