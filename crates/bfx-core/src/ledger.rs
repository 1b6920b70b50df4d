//! Ledger entries of `auth/r/ledgers/hist` and `auth/r/ledgers/{CURRENCY}/hist`, their wallet and
//! their category.
//!
//! `[ID, CURRENCY, WALLET or null, MTS, _, AMOUNT, BALANCE, _, DESCRIPTION]`. Every balance change
//! of an account is one entry and carries the wallet's balance after it, which is what makes past
//! balances computable (`wallets/hist` is not to be trusted). The row has no category: Bitfinex only
//! accepts one as a request filter and derives it from the description in its own report tool;
//! [`category`] does the same from the codes and description beginnings listed in the spec.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::parse::{ParseError, Row, top_level_rows};

/// One ledger entry, exact, with its wallet resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Unique per account.
    pub id: i64,
    /// `BTC`, `UST`, … (no prefix).
    pub currency: String,
    /// Lower-case: `exchange`, `margin`, `funding` (or what Bitfinex sent, lower-cased).
    pub wallet: String,
    /// Milliseconds since the epoch.
    pub mts: i64,
    /// Signed change.
    pub amount: Decimal,
    /// The wallet's balance after this entry.
    pub balance: Decimal,
    /// As sent (it is what the category is derived from).
    pub description: String,
}

impl LedgerEntry {
    /// Bitfinex's category code for this entry, derived from its description.
    pub fn category(&self) -> Option<Category> {
        category(&self.description)
    }
}

const WHAT: &str = "ledgers";

/// Parses the body of a ledgers request. Any malformed row fails the whole page: an entry silently
/// missing would make every later balance and sum wrong.
pub fn parse_ledgers(body: &[u8]) -> Result<Vec<LedgerEntry>, ParseError> {
    top_level_rows(WHAT, body)?
        .into_iter()
        .enumerate()
        .map(|(index, raw)| parse_ledger_row(raw, Some(index)))
        .collect()
}

/// Parses one ledger row. `index` names it in errors.
pub fn parse_ledger_row(raw: &RawValue, index: Option<usize>) -> Result<LedgerEntry, ParseError> {
    let row = Row::new(WHAT, index, raw)?;
    let currency = row.string(1, "CURRENCY")?;
    if currency.is_empty() {
        return Err(row.error("CURRENCY", "is empty"));
    }
    let description = row.string(8, "DESCRIPTION")?;
    let wallet = match row.opt_string(2, "WALLET")? {
        Some(wallet) if !wallet.is_empty() => wallet_name(&wallet),
        _ => wallet_of_description(&description).ok_or_else(|| {
            row.error("WALLET", "is null and the description does not end with \" on wallet <name>\"")
        })?,
    };
    Ok(LedgerEntry {
        id: row.integer(0, "ID")?,
        currency,
        wallet,
        mts: row.integer(3, "MTS")?,
        amount: row.decimal(5, "AMOUNT")?,
        balance: row.decimal(6, "BALANCE")?,
        description,
    })
}

/// The wallet a description names in its ` on wallet <name>` suffix (any case), under today's name.
pub fn wallet_of_description(description: &str) -> Option<String> {
    const SUFFIX: &str = " on wallet ";
    let lower = description.to_ascii_lowercase();
    let at = lower.rfind(SUFFIX)?;
    let name = lower[at + SUFFIX.len()..].trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| wallet_name(name))
}

/// Today's wallet name for a name Bitfinex sent: lower-cased, with the old names (`trading` for
/// margin, `deposit` for funding) mapped.
fn wallet_name(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "trading" => "margin".to_owned(),
        "deposit" => "funding".to_owned(),
        other => other.to_owned(),
    }
}

/// What one full-or-not page of a ledger walk (newest first, `end` inclusive, `start` inclusive)
/// proves, as Bitfinex's own report tool pages: see [`cut_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageCut {
    /// The page was not full: it holds every entry from the request's `start` to its `end`.
    Complete,
    /// The page was full: every entry newer than `oldest` is in it (the first `keep` rows once
    /// sorted newest first), but entries at `oldest` itself may continue on the next page, so those
    /// are dropped and the next request ends at `oldest` (inclusive: no gap, no duplicate).
    Partial { keep: usize, oldest: i64 },
    /// The page was full of one millisecond: `end` alone cannot get past it; the millisecond must
    /// be read split (per currency, then wallet, then category).
    FullMillisecond(i64),
}

/// Sorts `page` newest first (by MTS, then ID) and says what it proves, given the `limit` it was
/// requested with.
pub fn cut_page(page: &mut [LedgerEntry], limit: usize) -> PageCut {
    page.sort_unstable_by_key(|e| std::cmp::Reverse((e.mts, e.id)));
    let (Some(newest), Some(oldest)) = (page.first().map(|e| e.mts), page.last().map(|e| e.mts)) else {
        return PageCut::Complete;
    };
    if page.len() < limit {
        PageCut::Complete
    } else if newest == oldest {
        PageCut::FullMillisecond(oldest)
    } else {
        PageCut::Partial { keep: page.partition_point(|e| e.mts > oldest), oldest }
    }
}

/// A Bitfinex ledger category: its numeric code (the `category` request filter) and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Category(pub u16);

/// What a category means for the questions bfx answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Income: lending (margin funding) payments, staking rewards, affiliate rebates.
    Earning,
    /// Paid: trading, deposit, withdrawal, miner and funding fees (rebates count against them).
    Fee,
    /// Money in or out of the account: deposits, withdrawals (and their cancellations).
    Flow,
    /// Moved between the account's own wallets.
    Transfer,
    /// Everything else: trades, positions, settlements, adjustments, conversions.
    Other,
}

/// The categories bfx knows, in code order: code, name, group, and how the lower-cased description
/// is recognised. A description matches the first rule (in [`RULES`] order) that accepts it.
const CATEGORIES: &[(u16, &str, Group)] = &[
    (5, "exchange", Group::Other),
    (22, "position modified, closed or liquidated", Group::Other),
    (27, "position funding cost or interest charged", Group::Fee),
    (28, "margin, swap or interest payment", Group::Earning),
    (29, "derivatives funding event", Group::Other),
    (31, "settlement", Group::Other),
    (51, "transfer", Group::Transfer),
    (101, "deposit", Group::Flow),
    (104, "withdrawal", Group::Flow),
    (105, "canceled withdrawal", Group::Flow),
    (201, "trading fee", Group::Fee),
    (202, "trading rebate", Group::Fee),
    (226, "used margin funding charge", Group::Fee),
    (228, "unused margin funding fee", Group::Fee),
    (241, "earned fee or affiliate rebate", Group::Earning),
    (251, "deposit fee", Group::Fee),
    (254, "withdrawal fee", Group::Fee),
    (258, "miner fee", Group::Fee),
    (262, "staking payment", Group::Earning),
    (401, "adjustment", Group::Other),
    (905, "currency conversion", Group::Other),
];

enum Match {
    Prefix(&'static str),
    Contains(&'static str),
}

/// Most specific first: `deposit fee` before `deposit`, `unused margin funding` before `used…`,
/// `canceled withdrawal` and `withdrawal fee` before ` withdrawal #`, position funding before
/// other position entries.
const RULES: &[(Match, u16)] = &[
    (Match::Prefix("exchange "), 5),
    (Match::Prefix("trading fee"), 201),
    (Match::Prefix("trading rebate"), 202),
    (Match::Prefix("unused margin funding"), 228),
    (Match::Prefix("used margin funding"), 226),
    (Match::Prefix("margin funding payment"), 28),
    (Match::Prefix("swap payment"), 28),
    (Match::Prefix("interest payment"), 28),
    (Match::Prefix("derivatives funding"), 29),
    (Match::Contains("funding cost"), 27),
    (Match::Contains("interest charge"), 27),
    (Match::Prefix("position "), 22),
    (Match::Prefix("transfer of "), 51),
    (Match::Prefix("deposit fee"), 251),
    (Match::Prefix("deposit "), 101),
    (Match::Prefix("canceled withdrawal"), 105),
    (Match::Prefix("cancelled withdrawal"), 105),
    (Match::Contains("withdrawal fee"), 254),
    (Match::Contains(" withdrawal #"), 104),
    (Match::Prefix("withdrawal #"), 104),
    (Match::Prefix("miner fee"), 258),
    (Match::Prefix("staking reward"), 262),
    (Match::Prefix("staking payment"), 262),
    (Match::Prefix("earned fee"), 241),
    (Match::Prefix("affiliate rebate"), 241),
    (Match::Prefix("adjustment"), 401),
    (Match::Prefix("currency conversion"), 905),
    (Match::Contains("settlement"), 31),
];

/// The category of a ledger description, or `None` when it matches no known form (such entries are
/// kept, with no category, and listed by `bfx history check`).
pub fn category(description: &str) -> Option<Category> {
    let lower = description.trim_start().to_ascii_lowercase();
    RULES.iter().find_map(|(rule, code)| {
        let hit = match rule {
            Match::Prefix(prefix) => lower.starts_with(prefix),
            Match::Contains(part) => lower.contains(part),
        };
        hit.then_some(Category(*code))
    })
}

impl Category {
    /// Every category bfx recognises, in code order.
    pub fn all() -> impl Iterator<Item = Category> {
        CATEGORIES.iter().map(|(code, _, _)| Category(*code))
    }

    fn entry(self) -> Option<&'static (u16, &'static str, Group)> {
        CATEGORIES.iter().find(|(code, _, _)| *code == self.0)
    }

    /// Bitfinex's name for it (`"trading fee"`), or `"unknown"` for a code bfx does not list.
    pub fn name(self) -> &'static str {
        self.entry().map_or("unknown", |(_, name, _)| name)
    }

    /// What it counts as; a code bfx does not list is [`Group::Other`].
    pub fn group(self) -> Group {
        self.entry().map_or(Group::Other, |(_, _, group)| *group)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn at(id: i64, mts: i64) -> LedgerEntry {
        LedgerEntry {
            id,
            currency: "BTC".into(),
            wallet: "exchange".into(),
            mts,
            amount: Decimal::ONE,
            balance: Decimal::ONE,
            description: "Deposit on wallet exchange".into(),
        }
    }

    #[test]
    fn a_page_that_is_not_full_is_complete() {
        assert_eq!(cut_page(&mut [], 3), PageCut::Complete);
        assert_eq!(cut_page(&mut [at(1, 5), at(2, 5)], 3), PageCut::Complete);
    }

    #[test]
    fn a_full_page_drops_its_oldest_millisecond() {
        // Out of order on purpose: the cut sorts newest first.
        let mut page = [at(3, 7), at(1, 5), at(4, 9), at(2, 5)];
        assert_eq!(cut_page(&mut page, 4), PageCut::Partial { keep: 2, oldest: 5 });
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 3, 2, 1]);
    }

    #[test]
    fn a_full_page_of_one_millisecond_must_be_split() {
        assert_eq!(cut_page(&mut [at(1, 5), at(2, 5)], 2), PageCut::FullMillisecond(5));
    }

    #[test]
    fn the_documented_row() {
        let body = r#"[[2531822314,"USD",null,1573521810000,null,0.01644445,0,null,"Settlement @ 185.79 on wallet margin"]]"#;
        let entries = parse_ledgers(body.as_bytes()).unwrap();
        assert_eq!(
            entries,
            [LedgerEntry {
                id: 2531822314,
                currency: "USD".into(),
                wallet: "margin".into(),
                mts: 1573521810000,
                amount: dec("0.01644445"),
                balance: dec("0"),
                description: "Settlement @ 185.79 on wallet margin".into(),
            }]
        );
        assert_eq!(entries[0].category(), Some(Category(31)));
    }

    #[test]
    fn the_wallet_comes_from_index_2_then_from_the_description() {
        let e = |row: &str| parse_ledgers(format!("[{row}]").as_bytes()).unwrap().remove(0);
        assert_eq!(
            e(r#"[1,"BTC","exchange",1,null,1,1,null,"Deposit on wallet funding"]"#).wallet,
            "exchange"
        );
        assert_eq!(e(r#"[1,"BTC","Funding",1,null,1,1,null,"x"]"#).wallet, "funding");
        assert_eq!(e(r#"[1,"BTC",null,1,null,1,1,null,"x on wallet Exchange"]"#).wallet, "exchange");
        assert_eq!(e(r#"[1,"BTC",null,1,null,1,1,null,"x on wallet trading"]"#).wallet, "margin");
        assert_eq!(e(r#"[1,"BTC",null,1,null,1,1,null,"x on wallet deposit"]"#).wallet, "funding");
        assert_eq!(e(r#"[1,"BTC","contribution",1,null,1,1,null,"x"]"#).wallet, "contribution");
    }

    #[test]
    fn malformed_rows_name_the_field() {
        let err = |body: &str| parse_ledgers(body.as_bytes()).unwrap_err();
        let e = err(r#"[[1,"BTC",null,1,null,1,1,null,"no wallet here"]]"#);
        assert_eq!((e.row, e.field), (Some(0), Some("WALLET")));
        let e = err(r#"[[1,"BTC","exchange",1,null,"x",1,null,"d"]]"#);
        assert_eq!(e.field, Some("AMOUNT"));
        let e = err(r#"[[1,"BTC","exchange",1,null,1,null,null,"d"]]"#);
        assert_eq!(e.field, Some("BALANCE"));
        let e = err(r#"[[1,"","exchange",1,null,1,1,null,"d"]]"#);
        assert_eq!(e.field, Some("CURRENCY"));
        let e = err(r#"[[1,"BTC","exchange",1,null,1,1]]"#);
        assert_eq!(e.field, Some("DESCRIPTION"));
        assert!(parse_ledgers(br#"{"a":1}"#).is_err());
        assert_eq!(parse_ledgers(b"[]").unwrap(), []);
    }

    #[test]
    fn categories_from_the_spec_examples() {
        let cases = [
            ("Exchange 0.1 BTC for USD @ 9000.0 on wallet exchange", 5),
            ("Position closed @ 8900.1 on wallet margin", 22),
            ("Position #123 funding cost on wallet margin", 27),
            ("Margin Funding Payment on wallet funding", 28),
            ("Settlement @ 185.79 on wallet margin", 31),
            ("Transfer of 123 BTC from wallet Trading to Deposit on wallet funding", 51),
            ("Deposit (BITCOIN) #2168494 on wallet exchange", 101),
            ("Bitcoin Withdrawal #12345 on wallet exchange", 104),
            ("Canceled withdrawal #12345 on wallet exchange", 105),
            ("Trading fees for 0.041154 BTG (BTGEUR) @ 28.818 on BFX (0.2%) on wallet exchange", 201),
            ("Trading rebate for 1 BTC on wallet exchange", 202),
            ("Unused Margin Funding Fee on wallet funding", 228),
            ("Used Margin Funding Charge on wallet margin", 226),
            ("Deposit Fee on wallet exchange", 251),
            ("Crypto Withdrawal fee on wallet exchange", 254),
            ("Staking reward on wallet exchange", 262),
            ("Adjustment on wallet exchange", 401),
        ];
        for (description, code) in cases {
            assert_eq!(category(description), Some(Category(code)), "{description}");
        }
        assert_eq!(category("Something new on wallet exchange"), None);
    }

    #[test]
    fn every_rule_names_a_listed_category() {
        for (_, code) in RULES {
            assert_ne!(Category(*code).name(), "unknown", "rule for {code}");
        }
        assert_eq!(Category(28).group(), Group::Earning);
        assert_eq!(Category(201).group(), Group::Fee);
        assert_eq!(Category(101).group(), Group::Flow);
        assert_eq!(Category(999).name(), "unknown");
    }
}
