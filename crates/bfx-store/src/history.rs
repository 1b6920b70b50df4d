//! The questions `bfx history` answers from the stored ledger, computed exactly (checked `Decimal`
//! sums; an overflow is an error naming what overflowed, never a wrong total). Pure: each takes
//! entries or stored balances and returns the answer, so every one is tested without a database.

use std::collections::BTreeMap;

use bfx_core::ledger::{Category, Group};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::{Covered, StoredBalance, StoredEntry};

/// A sum that does not fit in a `Decimal` (28 significant digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sum of {what} overflows (more than 28 significant digits)")]
pub struct Overflow {
    pub what: String,
}

/// How sums are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// One row per currency and category.
    Currency,
    /// One row per calendar month (UTC), currency and category.
    Month,
    /// One row per wallet, currency and category (transfers between wallets).
    Wallet,
}

/// One row of earnings, fees or flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SumRow {
    /// `2026-01` when split by month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    /// The wallet, when split by wallet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
    pub currency: String,
    pub category: u16,
    pub category_name: &'static str,
    /// Entries summed.
    pub entries: u64,
    /// Signed, as in the ledger: fees and withdrawals are negative.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// Sums the entries of `group`'s categories, per currency and category (and month or wallet).
pub fn sums(
    entries: impl IntoIterator<Item = StoredEntry>,
    group: Group,
    by: By,
) -> Result<Vec<SumRow>, Overflow> {
    let mut sums = Sums::new(group, by);
    for stored in entries {
        sums.add(&stored)?;
    }
    Ok(sums.rows())
}

/// [`sums`] one entry at a time, so a stream of any length is summed in bounded memory (one
/// running sum per row of the answer).
#[derive(Debug, Clone)]
pub struct Sums {
    group: Group,
    by: By,
    rows: BTreeMap<SumKey, (u64, Decimal)>,
}

/// Month, wallet (each only when split by it), currency, category.
type SumKey = (Option<String>, Option<String>, String, Category);

impl Sums {
    /// Nothing summed yet.
    pub fn new(group: Group, by: By) -> Sums {
        Sums { group, by, rows: BTreeMap::new() }
    }

    /// Adds the entry if its category is of the group; an overflow names the sum.
    pub fn add(&mut self, stored: &StoredEntry) -> Result<(), Overflow> {
        let Some(category) = stored.category.filter(|c| c.group() == self.group) else { return Ok(()) };
        let month = (self.by == By::Month).then(|| month_of(stored.entry.mts));
        let wallet = (self.by == By::Wallet).then(|| stored.entry.wallet.clone());
        let key = (month, wallet, stored.entry.currency.clone(), category);
        let (count, sum) = self.rows.entry(key).or_insert((0, Decimal::ZERO));
        *count += 1;
        *sum = sum
            .checked_add(stored.entry.amount)
            .ok_or_else(|| Overflow { what: format!("{} {}", stored.entry.currency, category.name()) })?;
        Ok(())
    }

    /// The rows, by month (or wallet), currency and category code.
    pub fn rows(self) -> Vec<SumRow> {
        self.rows
            .into_iter()
            .map(|((month, wallet, currency, category), (entries, amount))| SumRow {
                month,
                wallet,
                currency,
                category: category.0,
                category_name: category.name(),
                entries,
                amount,
            })
            .collect()
    }
}

/// The parts of `from..=to` that `covered` (merged, ascending, as [`crate::Store::coverage`]
/// returns it) leaves out, oldest first: what an answer over that range cannot vouch for.
pub fn uncovered(from: i64, to: i64, covered: &[Covered]) -> Vec<Covered> {
    let mut missing = Vec::new();
    let mut next = from;
    for c in covered {
        if next > to {
            break;
        }
        if c.to_mts < next {
            continue;
        }
        if c.from_mts > next {
            missing.push(Covered { from_mts: next, to_mts: (c.from_mts - 1).min(to) });
        }
        next = c.to_mts.saturating_add(1);
        if c.to_mts == i64::MAX {
            return missing;
        }
    }
    if next <= to {
        missing.push(Covered { from_mts: next, to_mts: to });
    }
    missing
}

/// `2026-01` for a time in milliseconds since the epoch (UTC).
pub fn month_of(mts: i64) -> String {
    match jiff::Timestamp::from_millisecond(mts) {
        Ok(t) => t.strftime("%Y-%m").to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// RFC 3339 in UTC, to the millisecond when it has one: `2026-01-31T23:59:59.999Z`.
pub fn rfc3339(mts: i64) -> String {
    match jiff::Timestamp::from_millisecond(mts) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{mts} ms"),
    }
}

/// What an answer over `from..=to` for one account cannot vouch for, given its coverage. `to =
/// None` means "as far as the store holds" (the newest covered millisecond); an account never
/// synced misses the whole range (`to_mts = i64::MAX` when open).
pub fn unvouched(from: i64, to: Option<i64>, covered: &[Covered]) -> Vec<Covered> {
    match (to, covered.last()) {
        (Some(to), _) => uncovered(from, to, covered),
        (None, Some(last)) => uncovered(from, last.to_mts.max(from), covered),
        (None, None) => vec![Covered { from_mts: from, to_mts: i64::MAX }],
    }
}

/// Which end of a day a date stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Its first millisecond (`--from 2026-01-01`).
    Start,
    /// Its last millisecond (`--at 2026-01-31`, `--to 2026-01-31`: that day included).
    End,
}

/// A moment given by a user: a date (`2026-01-31`, UTC; which millisecond of it per `edge`), an
/// RFC 3339 time (`2026-01-31T12:00:00+01:00`), or milliseconds since the epoch (Bitfinex's MTS).
pub fn parse_when(text: &str, edge: Edge) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| format!("{text:?}: too large for milliseconds since the epoch"));
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>()
        && !text.contains(['T', 't', ' '])
    {
        let start = date.to_zoned(jiff::tz::TimeZone::UTC).map_err(|e| format!("{text:?}: {e}"))?;
        let start = start.timestamp().as_millisecond();
        return Ok(match edge {
            Edge::Start => start,
            Edge::End => start + 86_400_000 - 1,
        });
    }
    match text.parse::<jiff::Timestamp>() {
        Ok(t) => Ok(t.as_millisecond()),
        Err(_) => Err(format!(
            "{text:?} is not a date (2026-01-31), an RFC 3339 time (2026-01-31T12:00:00Z) or milliseconds since the epoch"
        )),
    }
}

/// One disagreement found by [`check_chain`] or [`check_wallets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// An entry's BALANCE is not the previous BALANCE + its AMOUNT.
    Chain {
        account: String,
        wallet: String,
        currency: String,
        /// The entry before, and the one that disagrees.
        previous: Box<StoredEntry>,
        entry: Box<StoredEntry>,
        #[serde(with = "rust_decimal::serde::str")]
        expected: Decimal,
    },
    /// The newest stored BALANCE is not what `auth/r/wallets` says now.
    Wallet {
        account: String,
        wallet: String,
        currency: String,
        #[serde(with = "rust_decimal::serde::str_option")]
        stored: Option<Decimal>,
        #[serde(with = "rust_decimal::serde::str_option")]
        now: Option<Decimal>,
    },
}

/// Walks entries in chain order (account, wallet, currency, time) and reports every entry whose
/// BALANCE is not the previous entry's BALANCE + its AMOUNT.
pub fn check_chain(entries: impl IntoIterator<Item = StoredEntry>) -> Vec<Finding> {
    let mut chain = ChainCheck::default();
    entries.into_iter().filter_map(|stored| chain.push(stored)).collect()
}

/// [`check_chain`] one entry at a time (for a stream of any length): holds only the previous entry.
#[derive(Debug, Clone, Default)]
pub struct ChainCheck {
    previous: Option<StoredEntry>,
}

impl ChainCheck {
    /// The next entry in chain order; a finding when it does not follow the one before.
    pub fn push(&mut self, stored: StoredEntry) -> Option<Finding> {
        let mut finding = None;
        if let Some(before) = self.previous.take().filter(|p| same_series(p, &stored)) {
            let expected = before.entry.balance.checked_add(stored.entry.amount);
            if expected != Some(stored.entry.balance) {
                finding = Some(Finding::Chain {
                    account: stored.account.clone(),
                    wallet: stored.entry.wallet.clone(),
                    currency: stored.entry.currency.clone(),
                    expected: expected.unwrap_or(Decimal::MAX),
                    previous: Box::new(before),
                    entry: Box::new(stored.clone()),
                });
            }
        }
        self.previous = Some(stored);
        finding
    }
}

fn same_series(a: &StoredEntry, b: &StoredEntry) -> bool {
    (&a.account, &a.entry.wallet, &a.entry.currency) == (&b.account, &b.entry.wallet, &b.entry.currency)
}

/// Compares one account's newest stored balances with its wallets now (`(wallet, currency,
/// balance)` from `auth/r/wallets`). A series missing on one side counts as zero there.
pub fn check_wallets(
    account: &str,
    stored: &[StoredBalance],
    now: &[(String, String, Decimal)],
) -> Vec<Finding> {
    let mut sides: BTreeMap<(String, String), (Option<Decimal>, Option<Decimal>)> = BTreeMap::new();
    for b in stored.iter().filter(|b| b.account == account) {
        sides.entry((b.wallet.clone(), b.currency.clone())).or_default().0 = Some(b.balance);
    }
    for (wallet, currency, balance) in now {
        sides.entry((wallet.clone(), currency.clone())).or_default().1 = Some(*balance);
    }
    sides
        .into_iter()
        .filter(|(_, (stored, now))| stored.unwrap_or_default() != now.unwrap_or_default())
        .map(|((wallet, currency), (stored, now))| Finding::Wallet {
            account: account.to_owned(),
            wallet,
            currency,
            stored,
            now,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfx_core::ledger::LedgerEntry;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn stored(
        account: &str,
        id: i64,
        mts: i64,
        currency: &str,
        amount: &str,
        balance: &str,
        description: &str,
    ) -> StoredEntry {
        StoredEntry {
            account: account.into(),
            entry: LedgerEntry {
                id,
                currency: currency.into(),
                wallet: "exchange".into(),
                mts,
                amount: dec(amount),
                balance: dec(balance),
                description: description.into(),
            },
            category: bfx_core::ledger::category(description),
        }
    }

    #[test]
    fn when_is_a_date_a_time_or_milliseconds() {
        // 2026-01-31 00:00:00 UTC.
        let day = 1_769_817_600_000;
        assert_eq!(parse_when("2026-01-31", Edge::Start), Ok(day));
        assert_eq!(parse_when("2026-01-31", Edge::End), Ok(day + 86_400_000 - 1));
        assert_eq!(parse_when("2026-01-31T01:00:00+01:00", Edge::End), Ok(day));
        assert_eq!(parse_when("2026-01-31T00:00:00.5Z", Edge::Start), Ok(day + 500));
        assert_eq!(parse_when("1769817600000", Edge::End), Ok(day));
        for bad in ["", "2026-02-30", "yesterday", "2026-01-31T25:00:00Z", "99999999999999999999"] {
            assert!(parse_when(bad, Edge::Start).is_err(), "{bad:?}");
        }
        assert_eq!(rfc3339(day + 86_400_000 - 1), "2026-01-31T23:59:59.999Z");
        assert_eq!(rfc3339(day), "2026-01-31T00:00:00Z");
        assert_eq!(month_of(day), "2026-01");
    }

    #[test]
    fn sums_per_currency_category_and_month() {
        let entries = [
            stored(
                "a",
                1,
                1_769_817_600_000,
                "USD",
                "1.5",
                "1.5",
                "Margin Funding Payment on wallet funding",
            ),
            stored(
                "a",
                2,
                1_772_323_200_000,
                "USD",
                "2.25",
                "3.75",
                "Margin Funding Payment on wallet funding",
            ),
            stored("a", 3, 1_772_323_200_001, "ETH", "0.1", "0.1", "Staking reward on wallet exchange"),
            stored(
                "a",
                4,
                1_772_323_200_002,
                "USD",
                "-0.5",
                "3.25",
                "Trading fees for 1 BTC on wallet exchange",
            ),
            stored("a", 5, 1_772_323_200_003, "USD", "9", "12.25", "Something new on wallet exchange"),
        ];
        let by_currency = sums(entries.clone(), Group::Earning, By::Currency).unwrap();
        let rows: Vec<_> =
            by_currency.iter().map(|r| (r.currency.as_str(), r.category, r.entries, r.amount)).collect();
        assert_eq!(rows, [("ETH", 262, 1, dec("0.1")), ("USD", 28, 2, dec("3.75"))]);
        let by_month = sums(entries.clone(), Group::Earning, By::Month).unwrap();
        let months: Vec<_> =
            by_month.iter().map(|r| (r.month.as_deref().unwrap(), r.currency.as_str(), r.amount)).collect();
        assert_eq!(
            months,
            [("2026-01", "USD", dec("1.5")), ("2026-03", "ETH", dec("0.1")), ("2026-03", "USD", dec("2.25"))]
        );
        let fees = sums(entries, Group::Fee, By::Currency).unwrap();
        assert_eq!(fees.len(), 1);
        assert_eq!((fees[0].category, fees[0].amount), (201, dec("-0.5")));
    }

    #[test]
    fn sums_per_wallet_keep_transfers_apart() {
        let mut out = stored(
            "a",
            1,
            1,
            "BTC",
            "-0.5",
            "0.5",
            "Transfer of 0.5 BTC from wallet Exchange to Margin on wallet exchange",
        );
        out.entry.wallet = "exchange".into();
        let mut into = stored(
            "a",
            2,
            1,
            "BTC",
            "0.5",
            "0.5",
            "Transfer of 0.5 BTC from wallet Exchange to Margin on wallet margin",
        );
        into.entry.wallet = "margin".into();
        let rows = sums([out, into], Group::Transfer, By::Wallet).unwrap();
        let rows: Vec<_> =
            rows.iter().map(|r| (r.wallet.as_deref().unwrap(), r.category, r.amount)).collect();
        assert_eq!(rows, [("exchange", 51, dec("-0.5")), ("margin", 51, dec("0.5"))]);
    }

    #[test]
    fn what_the_coverage_leaves_out() {
        let c = |from_mts, to_mts| Covered { from_mts, to_mts };
        assert_eq!(uncovered(0, 100, &[]), [c(0, 100)]);
        assert_eq!(uncovered(0, 100, &[c(0, 100)]), []);
        assert_eq!(uncovered(10, 20, &[c(0, 100)]), []);
        assert_eq!(uncovered(0, 100, &[c(10, 20), c(30, 40)]), [c(0, 9), c(21, 29), c(41, 100)]);
        assert_eq!(uncovered(25, 35, &[c(10, 20), c(30, 40)]), [c(25, 29)]);
        assert_eq!(uncovered(0, 5, &[c(10, 20)]), [c(0, 5)]);
        assert_eq!(uncovered(50, 60, &[c(10, 20)]), [c(50, 60)]);
        assert_eq!(uncovered(0, i64::MAX, &[c(0, i64::MAX)]), []);
        assert_eq!(uncovered(0, i64::MAX, &[c(0, 7)]), [c(8, i64::MAX)]);
        // Open-ended: up to the newest covered millisecond.
        assert_eq!(unvouched(0, None, &[c(0, 100)]), []);
        assert_eq!(unvouched(0, None, &[c(50, 100)]), [c(0, 49)]);
        assert_eq!(unvouched(0, Some(200), &[c(0, 100)]), [c(101, 200)]);
        assert_eq!(unvouched(300, None, &[c(0, 100)]), [c(300, 300)]);
        assert_eq!(unvouched(0, None, &[]), [c(0, i64::MAX)]);
    }

    #[test]
    fn a_sum_that_overflows_is_an_error_not_a_total() {
        let max = Decimal::MAX.to_string();
        let entries = [
            stored("a", 1, 1, "USD", &max, &max, "Deposit (WIRE) #1 on wallet exchange"),
            stored("a", 2, 2, "USD", &max, &max, "Deposit (WIRE) #2 on wallet exchange"),
        ];
        let error = sums(entries, Group::Flow, By::Currency).unwrap_err();
        assert_eq!(error.to_string(), "the sum of USD deposit overflows (more than 28 significant digits)");
    }

    #[test]
    fn the_chain_names_the_entry_that_breaks_it() {
        let entries = [
            stored("a", 1, 1, "BTC", "1", "1", "Deposit (BITCOIN) #1 on wallet exchange"),
            stored("a", 2, 2, "BTC", "0.5", "1.5", "Deposit (BITCOIN) #2 on wallet exchange"),
            // Entry 3 (+0.25) is missing from the store: entry 4 does not follow entry 2.
            stored("a", 4, 4, "BTC", "-1", "0.75", "Bitcoin Withdrawal #9 on wallet exchange"),
            // Another series starts over.
            stored("a", 5, 1, "ETH", "2", "2", "Deposit (ETHEREUM) #3 on wallet exchange"),
            stored("b", 1, 1, "BTC", "7", "7", "Deposit (BITCOIN) #1 on wallet exchange"),
        ];
        let findings = check_chain(entries);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let Finding::Chain { previous, entry, expected, .. } = &findings[0] else { panic!("{findings:?}") };
        assert_eq!((previous.entry.id, entry.entry.id, *expected), (2, 4, dec("0.5")));
    }

    #[test]
    fn wallets_now_against_the_newest_stored_balances() {
        let stored = |wallet: &str, currency: &str, balance: &str| StoredBalance {
            account: "a".into(),
            wallet: wallet.into(),
            currency: currency.into(),
            balance: dec(balance),
            mts: 1,
            id: 1,
        };
        let store = [
            stored("exchange", "BTC", "1.50"),
            stored("exchange", "ETH", "0"),
            stored("funding", "USD", "3"),
        ];
        let now = [
            ("exchange".to_owned(), "BTC".to_owned(), dec("1.5")),
            ("funding".to_owned(), "USD".to_owned(), dec("2")),
            ("margin".to_owned(), "UST".to_owned(), dec("4")),
        ];
        let findings = check_wallets("a", &store, &now);
        let keys: Vec<_> = findings
            .iter()
            .map(|f| match f {
                Finding::Wallet { wallet, currency, stored, now, .. } => {
                    (wallet.as_str(), currency.as_str(), *stored, *now)
                }
                Finding::Chain { .. } => panic!("{f:?}"),
            })
            .collect();
        assert_eq!(
            keys,
            [("funding", "USD", Some(dec("3")), Some(dec("2"))), ("margin", "UST", None, Some(dec("4")))]
        );
    }
}
