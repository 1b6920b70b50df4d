//! `bfx history sync`: an account's ledger, from Bitfinex into the store, with no gap and no
//! duplicate whatever interrupts it.
//!
//! The store records which closed intervals of time it holds completely ([`Covered`]); a run
//! reads only what is missing between `since` and now, newest first, one page of 2 500 at a time
//! as Bitfinex's own report tool pages (see [`bfx_core::ledger::cut_page`]), and stores each page
//! with the interval it proves in one transaction. Interrupted anywhere, the store holds whole
//! pages and says what they cover; the next run reads the rest. Later runs read from the newest
//! stored entry's millisecond on, even where the store covers more: an entry written late, with
//! a time already read, is found by the next run.
//!
//! A millisecond holding more entries than one page is read split: per currency, then per wallet,
//! then per category. What even that cannot prove complete is recorded as a possible gap
//! ([`Store::record_gap`]) and reported, never skipped silently.

use std::collections::{BTreeMap, BTreeSet};

use bfx_client::{Account, Client, LedgerQuery};
use bfx_core::ledger::{Category, LedgerEntry, PageCut, cut_page};

use crate::{AccountLock, Covered, Store, StoreError};

/// Why a sync stopped. Pages stored before the failure stay stored.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Client(#[from] bfx_client::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a sync has got to, reported after every page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Requests made.
    pub pages: u64,
    /// Entries received (duplicates of stored ones included).
    pub fetched: u64,
    /// Entries new to the store.
    pub inserted: u64,
    /// The oldest millisecond the walk has reached, if any.
    pub reached: Option<i64>,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub progress: Progress,
    /// Milliseconds that could not be proven complete (see the module docs).
    pub gaps: Vec<i64>,
}

const LIMIT: usize = LedgerQuery::MAX_LIMIT as usize;
const WALLETS: [&str; 3] = ["exchange", "margin", "funding"];

/// Brings the store's copy of `account`'s ledger up to `now` (milliseconds since the epoch), back
/// to `since` (default: as far as Bitfinex keeps it). Holds the account's store lock throughout,
/// so concurrent syncs of one account (other processes, other machines on one PostgreSQL) wait.
pub async fn sync_account(
    client: &Client,
    store: &Store,
    account: &Account,
    since: Option<i64>,
    now: i64,
    mut progress: impl FnMut(&Progress),
) -> Result<Synced, SyncError> {
    let lock = store.lock_account(&account.name).await?;
    let covered = store.coverage(&account.name).await?;
    let newest = store.newest_mts(&account.name).await?;
    let mut walk =
        Walk { client, store, account, lock: &lock, progress: Progress::default(), gaps: Vec::new() };
    let since = since.unwrap_or(0);
    let mut gaps = missing(since, now, &covered);
    // From the newest stored entry on, always: what was written late is found.
    if let Some(newest) = newest.map(|newest| newest.max(since)).filter(|newest| *newest <= now) {
        match gaps.first_mut() {
            Some(top) if top.1 == now => top.0 = top.0.min(newest),
            _ => gaps.insert(0, (newest, now)),
        }
    }
    for (lo, hi) in gaps {
        walk.interval(lo, hi, &mut progress).await?;
    }
    Ok(Synced { progress: walk.progress, gaps: walk.gaps })
}

/// The closed intervals of `[lo, hi]` that `covered` (merged, ascending) leaves out, newest
/// first. Each starts at the millisecond where the covered interval below it ends: that one is read
/// again, as entries may have been written into it after it was read.
pub fn missing(lo: i64, hi: i64, covered: &[Covered]) -> Vec<(i64, i64)> {
    let mut gaps = Vec::new();
    let mut top = hi;
    for c in covered.iter().rev() {
        if top < lo {
            break;
        }
        if c.from_mts > top {
            continue;
        }
        if c.to_mts < top {
            gaps.push((c.to_mts.max(lo), top));
        }
        top = c.from_mts.saturating_sub(1);
    }
    if top >= lo {
        gaps.push((lo, top));
    }
    gaps
}

struct Walk<'a> {
    client: &'a Client,
    store: &'a Store,
    account: &'a Account,
    lock: &'a AccountLock,
    progress: Progress,
    gaps: Vec<i64>,
}

impl Walk<'_> {
    /// Reads `[lo, hi]` newest first; each page stored with the interval it proves.
    async fn interval(
        &mut self,
        lo: i64,
        hi: i64,
        progress: &mut impl FnMut(&Progress),
    ) -> Result<(), SyncError> {
        let mut end = hi;
        loop {
            let mut page =
                self.fetch(LedgerQuery { start: Some(lo), ..LedgerQuery::page(Some(end)) }).await?;
            let (from, next) = match cut_page(&mut page, LIMIT) {
                PageCut::Complete => (lo, None),
                PageCut::Partial { keep, oldest } => {
                    page.truncate(keep);
                    (oldest + 1, Some(oldest))
                }
                PageCut::FullMillisecond(at) => {
                    page = self.millisecond(at, page).await?;
                    (at, (at > lo).then(|| at - 1))
                }
            };
            let covered = Covered { from_mts: from, to_mts: end };
            self.progress.inserted += self.store.store_page(self.lock, &page, covered).await?;
            self.progress.reached = Some(from);
            progress(&self.progress);
            match next {
                Some(next) => end = next,
                None => return Ok(()),
            }
        }
    }

    async fn fetch(&mut self, query: LedgerQuery) -> Result<Vec<LedgerEntry>, SyncError> {
        let page = self.client.ledgers(&self.account.credentials, &query).await?;
        self.progress.pages += 1;
        self.progress.fetched += page.len() as u64;
        Ok(page)
    }

    /// Every entry of millisecond `at`, read split because one page could not hold them.
    async fn millisecond(&mut self, at: i64, page: Vec<LedgerEntry>) -> Result<Vec<LedgerEntry>, SyncError> {
        let mut currencies: BTreeSet<String> = page.iter().map(|e| e.currency.clone()).collect();
        let known = self.store.balances_at(std::slice::from_ref(&self.account.name), i64::MAX).await?;
        currencies.extend(known.into_iter().map(|b| b.currency));
        let mut found: BTreeMap<i64, LedgerEntry> = page.into_iter().map(|e| (e.id, e)).collect();
        let only = |currency: &str| LedgerQuery {
            currency: Some(currency.to_owned()),
            start: Some(at),
            ..LedgerQuery::page(Some(at))
        };
        let mut unproven = false;
        for currency in &currencies {
            let entries = self.fetch(only(currency)).await?;
            if entries.len() < LIMIT {
                found.extend(entries.into_iter().map(|e| (e.id, e)));
                continue;
            }
            for wallet in WALLETS {
                let query = LedgerQuery { wallet: Some(wallet.to_owned()), ..only(currency) };
                let entries = self.fetch(query.clone()).await?;
                if entries.len() < LIMIT {
                    found.extend(entries.into_iter().map(|e| (e.id, e)));
                    continue;
                }
                // Entries of a category bfx does not know cannot be asked for: unproven.
                unproven = true;
                for category in Category::all() {
                    let entries =
                        self.fetch(LedgerQuery { category: Some(category.0), ..query.clone() }).await?;
                    found.extend(entries.into_iter().map(|e| (e.id, e)));
                }
            }
        }
        if unproven {
            let reason = "more than 2 500 entries of one currency and wallet in this millisecond: read per \
                          category; entries of a category bfx does not know may be missing";
            self.store.record_gap(self.lock, at, reason).await?;
            self.gaps.push(at);
        }
        Ok(found.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(from_mts: i64, to_mts: i64) -> Covered {
        Covered { from_mts, to_mts }
    }

    #[test]
    fn nothing_stored_is_one_gap() {
        assert_eq!(missing(0, 100, &[]), [(0, 100)]);
    }

    #[test]
    fn newer_than_the_store_rereads_its_newest_millisecond() {
        assert_eq!(missing(0, 200, &[c(0, 100)]), [(100, 200)]);
        assert_eq!(missing(0, 200, &[c(0, 300)]), []);
    }

    #[test]
    fn an_interrupted_first_run_leaves_the_older_part_and_the_newer_part() {
        assert_eq!(missing(0, 200, &[c(50, 100)]), [(100, 200), (0, 49)]);
        assert_eq!(missing(0, 200, &[c(0, 10), c(150, 180)]), [(180, 200), (10, 149)]);
    }

    #[test]
    fn since_bounds_the_gaps() {
        assert_eq!(missing(50, 200, &[c(0, 10)]), [(50, 200)]);
        assert_eq!(missing(50, 200, &[c(0, 60)]), [(60, 200)]);
        assert_eq!(missing(50, 200, &[c(300, 400)]), [(50, 200)]);
    }
}
