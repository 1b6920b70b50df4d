//! A deterministic year of ledger history for the demo accounts, ending exactly at the demo's
//! balances: every wallet's newest entry has its balance, and along every wallet/currency chain
//! balance = previous balance + amount (starting from 0).
//!
//! Built backwards from each wallet's balance B with exact decimals. Funding wallets earn a daily
//! margin funding payment (1.5–2.4 bp of B); margin wallets pay a monthly position funding cost;
//! both were filled by a transfer from the exchange wallet of their currency (two rows, same MTS,
//! opposite signs; an exchange chain with no wallet ends at 0). Exchange wallets trade monthly
//! (a sell of 5 % of B and a buy of 4 %, each with its 0.2 % fee), the account's first one also
//! withdraws 10 % once (an account with only exchange wallets also moves 20 % of its first one to
//! funding and back); the opening deposit is whatever makes the chain end at B. Times are fixed
//! offsets from UTC midnights of the 365 days before the start day, so every run has the same
//! amounts, descriptions and calendar structure.

use rust_decimal::Decimal;

use crate::ledger::{LedgerError, NewEntry, exact_add, exact_sub};
use crate::ledger_text::{Change, Kind, describe, last_price};
use crate::state::SimState;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const DAYS: i64 = 365;
/// Ids of account `n` start at `FIRST_ID + n × ID_STRIDE`.
const FIRST_ID: i64 = 2_600_000_001;
const ID_STRIDE: i64 = 10_000_000;
/// The opening deposit (or transfer) of a chain whose balance is not above 0.
const OPENING: i64 = 100;

/// One balance change before it gets its id, balance and description.
struct Event {
    mts: i64,
    /// Creation order: breaks MTS ties (a fee after its trade).
    seq: usize,
    wallet: String,
    currency: String,
    amount: Decimal,
    kind: Kind,
    counterpart: &'static str,
}

/// Adds the history to every account of `state`, for an emulator started at `start_ms`. Nothing
/// is added to an account whose history cannot be built exactly (an amount past `Decimal`).
pub(crate) fn add_history(state: &mut SimState, start_ms: i64) -> Result<(), LedgerError> {
    let midnight = start_ms.div_euclid(DAY_MS) * DAY_MS;
    for n in 0..state.accounts.len() {
        let events = account_events(state, n, midnight)?;
        let first_id = FIRST_ID + ID_STRIDE * i64::try_from(n).unwrap_or(0);
        let entries = entries(state, events, first_id)?;
        if let Some(account) = state.accounts.get_mut(n) {
            let new = entries.iter().map(|(e, description, balance, id)| NewEntry {
                id: *id,
                currency: &e.currency,
                wallet: &e.wallet,
                mts: e.mts,
                amount: e.amount,
                balance: *balance,
                description,
                texts: None,
            });
            account.ledger.extend(new)?;
        }
    }
    Ok(())
}

/// MTS of day `day` (0 = a year before the start day) at `at_ms` after its UTC midnight.
fn at(midnight: i64, day: i64, at_ms: i64) -> i64 {
    midnight - (DAYS - day) * DAY_MS + at_ms
}

fn account_events(state: &SimState, n: usize, midnight: i64) -> Result<Vec<Event>, LedgerError> {
    let Some(account) = state.accounts.get(n) else {
        return Ok(Vec::new());
    };
    let mut events: Vec<Event> = Vec::new();
    let push = |events: &mut Vec<Event>, mts, wallet: &str, currency: &str, amount, kind, counterpart| {
        let seq = events.len();
        events.push(Event {
            mts,
            seq,
            wallet: wallet.to_owned(),
            currency: currency.to_owned(),
            amount,
            kind,
            counterpart,
        });
    };
    let balance_of =
        |text: &str| bfx_core::parse_json_number(text).map_err(|e| LedgerError::Overflow(e.to_string()));
    // Margin and funding wallets first: their opening transfers come out of the exchange chains.
    for (i, wallet) in account.wallets.iter().enumerate().filter(|(_, w)| w.wallet_type != "exchange") {
        let (w, c) = (wallet.wallet_type.as_str(), wallet.currency.as_str());
        let b = balance_of(&wallet.balance)?;
        let second = i64::try_from(i).unwrap_or(0) * 1000;
        let mut rest = Decimal::ZERO;
        if b > Decimal::ZERO && w == "funding" {
            for day in 5..DAYS {
                let amount = exact_mul(b, Decimal::new(15 + day % 10, 5))?;
                rest = exact_add(rest, amount)?;
                push(
                    &mut events,
                    at(midnight, day, HOUR_MS / 2 + second),
                    w,
                    c,
                    amount,
                    Kind::FundingPayment,
                    "",
                );
            }
        } else if b > Decimal::ZERO {
            for month in 0..12 {
                let amount = exact_mul(b, Decimal::new(-1, 3))?;
                rest = exact_add(rest, amount)?;
                let mts = at(midnight, 15 + 30 * month, 12 * HOUR_MS + second);
                push(&mut events, mts, w, c, amount, Kind::FundingCost, "");
            }
        } else {
            rest = exact_sub(b, Decimal::from(OPENING))?;
            push(&mut events, at(midnight, 300, 15 * HOUR_MS + second), w, c, rest, Kind::PositionClosed, "");
        }
        let opening = exact_sub(b, rest)?;
        let mts = at(midnight, 3, 10 * HOUR_MS + second);
        push(&mut events, mts, w, c, opening, Kind::Transfer, "exchange");
        push(&mut events, mts, "exchange", c, -opening, Kind::Transfer, counterpart_of(w));
    }
    // An account with only exchange wallets moves some funds to funding and back.
    let round_trip = account.wallets.iter().enumerate().find(|(_, w)| w.wallet_type == "exchange");
    if !events.iter().any(|e| e.kind == Kind::Transfer)
        && let Some((i, wallet)) = round_trip
    {
        let b = balance_of(&wallet.balance)?;
        let amount = exact_mul(b.abs(), Decimal::new(2, 1))?;
        let second = i64::try_from(i).unwrap_or(0) * 1000;
        let c = wallet.currency.as_str();
        for (day, moved) in [(100, -amount), (130, amount)] {
            let mts = at(midnight, day, 11 * HOUR_MS + second);
            push(&mut events, mts, "exchange", c, moved, Kind::Transfer, "funding");
            push(&mut events, mts, "funding", c, -moved, Kind::Transfer, "exchange");
        }
    }
    let mut withdrew = false;
    let mut exchange: Vec<(String, Decimal)> = account
        .wallets
        .iter()
        .filter(|w| w.wallet_type == "exchange")
        .map(|w| Ok((w.currency.clone(), balance_of(&w.balance)?)))
        .collect::<Result<_, LedgerError>>()?;
    // Exchange chains the transfers opened without a wallet end at 0.
    for e in &events {
        if e.wallet == "exchange" && !exchange.iter().any(|(c, _)| *c == e.currency) {
            exchange.push((e.currency.clone(), Decimal::ZERO));
        }
    }
    for (i, (c, b)) in exchange.iter().enumerate() {
        let second = i64::try_from(i).unwrap_or(0) * 1000;
        if *b > Decimal::ZERO {
            for month in 0..12 {
                let trades = [(10, Decimal::new(-5, 2)), (20, Decimal::new(4, 2))];
                for (day, share) in trades {
                    let mts = at(midnight, day + 30 * month, 14 * HOUR_MS + second);
                    let amount = exact_mul(*b, share)?;
                    push(&mut events, mts, "exchange", c, amount, Kind::Trade, "");
                    let fee = exact_mul(amount.abs(), Decimal::new(-2, 3))?;
                    push(&mut events, mts, "exchange", c, fee, Kind::Fee, "");
                }
            }
            if !withdrew {
                withdrew = true;
                let amount = exact_mul(*b, Decimal::new(-1, 1))?;
                push(
                    &mut events,
                    at(midnight, 200, 16 * HOUR_MS),
                    "exchange",
                    c,
                    amount,
                    Kind::Withdrawal,
                    "",
                );
            }
        }
        let mut rest = Decimal::ZERO;
        for e in events.iter().filter(|e| e.wallet == "exchange" && e.currency == *c) {
            rest = exact_add(rest, e.amount)?;
        }
        let opening = exact_sub(*b, rest)?;
        let deposit_at = at(midnight, 1, 9 * HOUR_MS + second);
        if opening > Decimal::ZERO {
            push(&mut events, deposit_at, "exchange", c, opening, Kind::Deposit, "");
        } else {
            // Dust or debt: deposit a round amount, and sell past it near the end of the year.
            let round = Decimal::from(OPENING);
            push(&mut events, deposit_at, "exchange", c, round, Kind::Deposit, "");
            let sold = exact_sub(opening, round)?;
            push(&mut events, at(midnight, 360, 14 * HOUR_MS + second), "exchange", c, sold, Kind::Trade, "");
        }
    }
    events.sort_by_key(|e| (e.mts, e.seq));
    Ok(events)
}

/// `wallet` as a transfer's other side, seen from the exchange wallet.
fn counterpart_of(wallet: &str) -> &'static str {
    match wallet {
        "margin" => "margin",
        "funding" => "funding",
        _ => "exchange",
    }
}

/// Each event with its description, the balance after it on its chain, and its id (ascending
/// with time).
fn entries(
    state: &SimState,
    events: Vec<Event>,
    first_id: i64,
) -> Result<Vec<(Event, String, Decimal, i64)>, LedgerError> {
    let mut balances: Vec<((String, String), Decimal)> = Vec::new();
    let mut out = Vec::with_capacity(events.len());
    for (n, e) in events.into_iter().enumerate() {
        let id = first_id + i64::try_from(n).map_err(|_| LedgerError::Full)?;
        let chain = (e.wallet.clone(), e.currency.clone());
        let balance = match balances.iter_mut().find(|(k, _)| *k == chain) {
            Some((_, b)) => {
                *b = exact_add(*b, e.amount)?;
                *b
            }
            None => {
                balances.push((chain, e.amount));
                e.amount
            }
        };
        let description = describe(&Change {
            kind: e.kind,
            currency: &e.currency,
            wallet: &e.wallet,
            amount: e.amount,
            id,
            price: last_price(state, &e.currency),
            counterpart: e.counterpart,
        });
        out.push((e, description, balance, id));
    }
    Ok(out)
}

/// `a × b`, exactly: `Decimal` rounds a product past 28 decimal places.
fn exact_mul(a: Decimal, b: Decimal) -> Result<Decimal, LedgerError> {
    let scale = a.scale() + b.scale();
    match a.checked_mul(b) {
        // A product that had to shed decimal places to fit has a smaller scale.
        Some(p) if scale <= 28 && p.scale() == scale => Ok(p),
        _ => Err(LedgerError::Overflow(format!("{a} × {b}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_history_is_a_few_thousand_entries() {
        let state = SimState::demo_at(1_767_225_600_000);
        let counts: Vec<usize> = state.accounts.iter().map(|a| a.ledger.len()).collect();
        let total: usize = counts.iter().sum();
        assert_eq!(counts, [1964, 329, 250, 152], "main, bot, cold, paper");
        assert_eq!(total, 2695);
    }

    #[test]
    fn exact_products_only() {
        assert_eq!(exact_mul(Decimal::new(25, 1), Decimal::new(-5, 2)), Ok(Decimal::new(-125, 3)));
        assert!(exact_mul(Decimal::new(1, 20), Decimal::new(1, 10)).is_err());
        assert!(exact_mul(Decimal::MAX, Decimal::TWO).is_err());
    }

    #[test]
    fn days_are_utc_midnight_offsets_before_the_start_day() {
        let start = 1_767_225_600_000 + 5 * HOUR_MS; // 2026-01-01T05:00Z
        let midnight = 1_767_225_600_000;
        assert_eq!(at(midnight, 0, 0), midnight - 365 * DAY_MS);
        assert_eq!(at(midnight, 364, HOUR_MS), midnight - DAY_MS + HOUR_MS);
        assert_eq!(start.div_euclid(DAY_MS) * DAY_MS, midnight);
    }
}
