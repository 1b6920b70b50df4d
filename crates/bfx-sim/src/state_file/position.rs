//! `[[account.position]]`: open positions in a state file, checked as strictly as wallets.
//!
//! Figures stay the JSON number texts the file gives (PL included: the emulator serves what the
//! file says and computes nothing). Refused with file and line: a symbol that is not a trading
//! pair, two positions in one pair of an account (Bitfinex nets them into one), an amount of 0, a
//! base price not above 0, a status or type Bitfinex does not use, an id used twice.

use std::collections::HashMap;

use bfx_core::parse_json_number;
use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

use super::check::{Refused, number};
use crate::state::{Account, MTS_ACCOUNT_CREATE, Position};

/// Position ids handed out to positions the file gives none: from here, or above the largest
/// id the file gives, whichever is higher.
const FIRST_ASSIGNED_ID: u64 = 150_000_001;
/// JSON clients read ids and times as doubles: nothing above 2^53 − 1 survives that.
const MAX_EXACT: i64 = (1 << 53) - 1;
const STATUSES: [&str; 2] = ["ACTIVE", "CLOSED"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PositionFile {
    symbol: Spanned<String>,
    status: Option<Spanned<String>>,
    amount: Spanned<String>,
    base_price: Spanned<String>,
    margin_funding: Option<Spanned<String>>,
    margin_funding_type: Option<Spanned<i64>>,
    pl: Option<Spanned<String>>,
    pl_perc: Option<Spanned<String>>,
    price_liq: Option<Spanned<String>>,
    leverage: Option<Spanned<String>>,
    id: Option<Spanned<i64>>,
    mts_create: Option<Spanned<i64>>,
    mts_update: Option<Spanned<i64>>,
    #[serde(rename = "type")]
    kind: Option<Spanned<i64>>,
    collateral: Option<Spanned<String>>,
    collateral_min: Option<Spanned<String>>,
}

/// The ids met so far across the whole state, with the line of each.
#[derive(Default)]
pub(super) struct PositionIds {
    seen: HashMap<u64, usize>,
}

/// One account's positions. Those without an `id` get 0 here, replaced by [`assign_ids`].
/// `line_of` turns an offset in the file's text into its line, for "first at line N".
pub(super) fn positions(
    files: Vec<PositionFile>,
    ids: &mut PositionIds,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<Position>, Refused> {
    let mut pairs: HashMap<String, usize> = HashMap::new();
    let mut positions = Vec::with_capacity(files.len());
    for file in files {
        let symbol_span = file.symbol.span();
        let symbol = file.symbol.into_inner();
        if !is_trading_pair(&symbol) {
            return Err(Refused::new(
                symbol_span,
                format!(
                    "position symbol {symbol:?} is not a trading pair (t + base + quote, with a colon \
                     unless both are 3 characters: tBTCUSD, tAVAX:USD, tBTCF0:USTF0)"
                ),
            ));
        }
        if let Some(first) = pairs.insert(symbol.clone(), line_of(symbol_span.start)) {
            return Err(Refused::new(
                symbol_span,
                format!(
                    "duplicate position in {symbol} (first at line {first}); Bitfinex keeps one \
                     position per pair"
                ),
            ));
        }
        let status = match file.status {
            None => "ACTIVE".to_owned(),
            Some(status) if STATUSES.contains(&status.get_ref().as_str()) => status.into_inner(),
            Some(status) => {
                return Err(Refused::new(
                    status.span(),
                    format!("position status {:?} is not ACTIVE or CLOSED", status.get_ref()),
                ));
            }
        };
        let amount = checked_number(
            file.amount,
            "amount",
            |v| !v.is_zero(),
            "a position is long (> 0) or short (< 0), never 0",
        )?;
        let base_price =
            checked_number(file.base_price, "base_price", |v| v > Decimal::ZERO, "must be above 0")?;
        let id = match file.id {
            None => 0,
            Some(id) => {
                let span = id.span();
                let id = whole(id, "id", 1, MAX_EXACT)?;
                if let Some(first) = ids.seen.insert(id, line_of(span.start)) {
                    return Err(Refused::new(
                        span,
                        format!("duplicate position id {id} (first at line {first})"),
                    ));
                }
                id
            }
        };
        let mts_create = match file.mts_create {
            None => MTS_ACCOUNT_CREATE,
            Some(mts) => whole(mts, "mts_create", 0, MAX_EXACT)?,
        };
        let mts_update = match file.mts_update {
            None => mts_create,
            Some(mts) => {
                let span = mts.span();
                let mts = whole(mts, "mts_update", 0, MAX_EXACT)?;
                if mts < mts_create {
                    return Err(Refused::new(
                        span,
                        format!("mts_update {mts} is before mts_create {mts_create}"),
                    ));
                }
                mts
            }
        };
        positions.push(Position {
            symbol,
            status,
            amount,
            base_price,
            margin_funding: number_or_zero(file.margin_funding, "margin_funding")?,
            margin_funding_type: flag(
                file.margin_funding_type,
                "margin_funding_type",
                "0 (daily) or 1 (term)",
            )?,
            pl: file.pl.map(|v| number(v, "pl")).transpose()?,
            pl_perc: file.pl_perc.map(|v| number(v, "pl_perc")).transpose()?,
            price_liq: file.price_liq.map(|v| number(v, "price_liq")).transpose()?,
            leverage: file.leverage.map(|v| number(v, "leverage")).transpose()?,
            id,
            mts_create,
            mts_update,
            kind: flag(file.kind, "type", "0 (margin) or 1 (derivatives)")?,
            collateral: number_or_zero(file.collateral, "collateral")?,
            collateral_min: number_or_zero(file.collateral_min, "collateral_min")?,
        });
    }
    Ok(positions)
}

/// A JSON number text that must also pass `valid` (`rule` says how it failed).
fn checked_number(
    value: Spanned<String>,
    what: &str,
    valid: impl Fn(Decimal) -> bool,
    rule: &str,
) -> Result<String, Refused> {
    let span = value.span();
    let text = number(value, what)?;
    match parse_json_number(&text) {
        Ok(v) if valid(v) => Ok(text),
        _ => Err(Refused::new(span, format!("{what} = {text}: {rule}"))),
    }
}

fn number_or_zero(value: Option<Spanned<String>>, what: &str) -> Result<String, Refused> {
    value.map_or_else(|| Ok("0".to_owned()), |v| number(v, what))
}

/// An integer within `min..=max`.
fn whole(value: Spanned<i64>, what: &str, min: i64, max: i64) -> Result<u64, Refused> {
    let n = *value.get_ref();
    match u64::try_from(n) {
        Ok(ok) if (min..=max).contains(&n) => Ok(ok),
        _ => Err(Refused::new(
            value.span(),
            format!("{what} must be a whole number from {min} to {max}, found {n}"),
        )),
    }
}

/// `0` (the default) or `1`.
fn flag(value: Option<Spanned<i64>>, what: &str, meaning: &str) -> Result<u8, Refused> {
    match value {
        None => Ok(0),
        Some(v) => match *v.get_ref() {
            0 => Ok(0),
            1 => Ok(1),
            other => Err(Refused::new(v.span(), format!("{what} must be {meaning}, found {other}"))),
        },
    }
}

/// Gives every position loaded without an id the next free one, in file order.
pub(super) fn assign_ids(accounts: &mut [Account], ids: &PositionIds) {
    let first = ids.seen.keys().max().map_or(FIRST_ASSIGNED_ID, |max| (max + 1).max(FIRST_ASSIGNED_ID));
    let unnumbered = accounts.iter_mut().flat_map(|a| a.positions.iter_mut()).filter(|p| p.id == 0);
    for (id, position) in (first..).zip(unnumbered) {
        position.id = id;
    }
}

/// `t` + base + quote: with a colon between non-empty ids, or without one when both are exactly
/// 3 characters (`tBTCUSD`), as Bitfinex writes trading pairs.
fn is_trading_pair(symbol: &str) -> bool {
    let Some(pair) = symbol.strip_prefix('t') else { return false };
    let id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    match pair.split_once(':') {
        Some((base, quote)) => id(base) && id(quote),
        None => pair.len() == 6 && id(pair),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SimState;

    /// Line 5 is the first position's symbol, line 9 the second's.
    const TWO: &str = r#"[[account]]
name = "main"
user_id = 1001
email = "main@example.com"
  [[account.position]]
  symbol = "tBTCUSD"
  amount = "0.2"
  base_price = "108250"
  [[account.position]]
  symbol = "tETH:USD"
  status = "ACTIVE"
  amount = "-1.5e0"
  base_price = "4120.5"
  margin_funding = "-0.25"
  margin_funding_type = 1
  pl = "-335.92"
  pl_perc = "-5.43"
  price_liq = "6120.1"
  leverage = "2.5"
  id = 142355652
  mts_create = 1700000000000
  mts_update = 1700000100000
  type = 1
  collateral = "500"
  collateral_min = "20.5"
"#;

    fn error(text: &str) -> String {
        match SimState::from_toml(text, "state.toml") {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    /// `TWO` with its first `field_line` replaced by `with`.
    fn changed(field_line: &str, with: &str) -> String {
        assert!(TWO.contains(field_line), "{field_line}");
        TWO.replacen(field_line, with, 1)
    }

    #[test]
    fn defaults_and_every_field() {
        let state = SimState::from_toml(TWO, "state.toml").unwrap();
        let [btc, eth] = &state.accounts[0].positions[..] else { panic!("two positions") };
        assert_eq!((btc.symbol.as_str(), btc.status.as_str()), ("tBTCUSD", "ACTIVE"));
        assert_eq!((btc.amount.as_str(), btc.base_price.as_str()), ("0.2", "108250"));
        assert_eq!((btc.margin_funding.as_str(), btc.margin_funding_type, btc.kind), ("0", 0, 0));
        assert_eq!((&btc.pl, &btc.pl_perc, &btc.price_liq, &btc.leverage), (&None, &None, &None, &None));
        assert_eq!((btc.mts_create, btc.mts_update), (MTS_ACCOUNT_CREATE, MTS_ACCOUNT_CREATE));
        assert_eq!((btc.collateral.as_str(), btc.collateral_min.as_str()), ("0", "0"));
        // The id given (142355652) is below the first assigned one, so assigning starts there.
        assert_eq!(btc.id, FIRST_ASSIGNED_ID);

        assert_eq!(eth.amount, "-1.5e0");
        assert_eq!((eth.margin_funding.as_str(), eth.margin_funding_type, eth.kind), ("-0.25", 1, 1));
        assert_eq!(eth.pl.as_deref(), Some("-335.92"));
        assert_eq!(eth.pl_perc.as_deref(), Some("-5.43"));
        assert_eq!(eth.price_liq.as_deref(), Some("6120.1"));
        assert_eq!(eth.leverage.as_deref(), Some("2.5"));
        assert_eq!((eth.id, eth.mts_create, eth.mts_update), (142355652, 1700000000000, 1700000100000));
        assert_eq!((eth.collateral.as_str(), eth.collateral_min.as_str()), ("500", "20.5"));
    }

    #[test]
    fn ids_are_assigned_in_file_order_above_the_given_ones() {
        let big = changed("id = 142355652", "id = 900000000");
        let mut text = big.clone();
        text.push_str("[[account]]\nname = \"bot\"\nuser_id = 1002\nemail = \"b@example.com\"\n");
        text.push_str(
            "  [[account.position]]\n  symbol = \"tSOLUSD\"\n  amount = \"3\"\n  base_price = \"200\"\n",
        );
        let state = SimState::from_toml(&text, "s").unwrap();
        let ids: Vec<u64> = state.accounts.iter().flat_map(|a| a.positions.iter().map(|p| p.id)).collect();
        assert_eq!(ids, [900000001, 900000000, 900000002]);
        let none = SimState::from_toml(&changed("  id = 142355652\n", ""), "s").unwrap();
        let ids: Vec<u64> = none.accounts[0].positions.iter().map(|p| p.id).collect();
        assert_eq!(ids, [FIRST_ASSIGNED_ID, FIRST_ASSIGNED_ID + 1]);
    }

    #[test]
    fn symbols_must_be_trading_pairs_once_per_account() {
        assert_eq!(
            error(&TWO.replace("\"tBTCUSD\"", "\"fUSD\"")),
            "state.toml:6: position symbol \"fUSD\" is not a trading pair (t + base + quote, with a colon \
             unless both are 3 characters: tBTCUSD, tAVAX:USD, tBTCF0:USTF0)"
        );
        assert!(
            error(&TWO.replace("\"tBTCUSD\"", "\"BTCUSD\""))
                .starts_with("state.toml:6: position symbol \"BTCUSD\"")
        );
        assert_eq!(
            error(&TWO.replace("\"tETH:USD\"", "\"tBTCUSD\"")),
            "state.toml:10: duplicate position in tBTCUSD (first at line 6); Bitfinex keeps one position \
             per pair"
        );
    }

    #[test]
    fn numbers_are_json_number_texts_with_their_rules() {
        assert_eq!(
            error(&TWO.replace("\"0.2\"", "\"0,2\"")),
            "state.toml:7: amount: \"0,2\" is not a JSON number"
        );
        assert_eq!(
            error(&TWO.replace("\"0.2\"", "\"0.000\"")),
            "state.toml:7: amount = 0.000: a position is long (> 0) or short (< 0), never 0"
        );
        assert_eq!(
            error(&TWO.replace("\"108250\"", "\"-1\"")),
            "state.toml:8: base_price = -1: must be above 0"
        );
        assert_eq!(
            error(&changed("pl = \"-335.92\"", "pl = \"NaN\"")),
            "state.toml:16: pl: \"NaN\" is not a JSON number"
        );
        assert_eq!(
            error(&changed("leverage = \"2.5\"", "leverage = \"+2.5\"")),
            "state.toml:19: leverage: \"+2.5\" is not a JSON number"
        );
        assert_eq!(
            error(&changed("collateral_min = \"20.5\"", "collateral_min = \".5\"")),
            "state.toml:25: collateral_min: \".5\" is not a JSON number"
        );
        let e = error(&changed("pl = \"-335.92\"", "pl = -335.92"));
        assert!(
            e.starts_with("state.toml:16: invalid type: floating point `-335.92`, expected a string"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_statuses_types_and_ids_are_refused() {
        let e = error(&changed("  type = 1\n", "  type = 1\n  side = \"long\"\n"));
        assert!(e.starts_with("state.toml:24: unknown field `side`"), "{e}");
        assert_eq!(
            error(&changed("status = \"ACTIVE\"", "status = \"active\"")),
            "state.toml:11: position status \"active\" is not ACTIVE or CLOSED"
        );
        assert_eq!(
            error(&changed("\n  type = 1", "\n  type = 2")),
            "state.toml:23: type must be 0 (margin) or 1 (derivatives), found 2"
        );
        assert_eq!(
            error(&changed("margin_funding_type = 1", "margin_funding_type = -1")),
            "state.toml:15: margin_funding_type must be 0 (daily) or 1 (term), found -1"
        );
        assert_eq!(
            error(&changed("id = 142355652", "id = 0")),
            "state.toml:20: id must be a whole number from 1 to 9007199254740991, found 0"
        );
        assert_eq!(
            error(&changed("mts_update = 1700000100000", "mts_update = 1600000000000")),
            "state.toml:22: mts_update 1600000000000 is before mts_create 1700000000000"
        );
        let e = error(&format!(
            "{TWO}[[account]]\nname = \"bot\"\nuser_id = 1002\nemail = \"b@example.com\"\n  \
             [[account.position]]\n  \
             symbol = \"tSOLUSD\"\n  amount = \"3\"\n  base_price = \"200\"\n  id = 142355652\n"
        ));
        assert_eq!(e, "state.toml:34: duplicate position id 142355652 (first at line 20)");
    }
}
