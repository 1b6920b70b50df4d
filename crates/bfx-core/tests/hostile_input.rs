//! The wire parsers under hostile input (issue 5, item 7).
//!
//! Two kinds of property:
//! - **Never panic**: every parser (`parse_wallets`, `parse_wallet_row`, `parse_tickers`,
//!   `parse_trading_ticker`, `parse_permissions`, `parse_user_info`, `parse_error_body`,
//!   `parse_conf_maps`, `parse_json_number`) is fed arbitrary bytes, a soup of JSON tokens,
//!   arbitrary JSON values (huge, exponent, negative and long-fraction numbers; strings with unicode
//!   and every kind of escape; nested arrays and objects), row-shaped JSON, and valid bodies with
//!   one thing broken (a field nulled, removed, swapped for another type, extra fields, the body
//!   cut at a random byte or a byte overwritten). Where the outcome of a mutation is clear-cut it is
//!   asserted too: which row and field the error names, or the exact value that must result.
//! - **Round trip**: valid rows are generated together with the exact values they encode, written
//!   as JSON text (random whitespace, strings with random escapes, amounts in plain and scientific
//!   notation with padding zeros and zero-padded exponents, sometimes as quoted strings), parsed,
//!   and every field compared. Expected amounts are built from the generated mantissa and scale
//!   (`Decimal::try_from_i128_with_scale`), never by calling the parser under test.
//!
//! # Case counts
//! A normal `cargo test` runs [`DEFAULT_TOTAL`] cases (≥ 100 000) spread over the properties by
//! the weights in [`budget`]. `BFX_PROPTEST_CASES` changes that:
//! - `BFX_PROPTEST_CASES=N` runs about `N` cases in total, in the same proportions;
//! - `BFX_PROPTEST_CASES=xK` multiplies every count by `K`.
//!
//! The long run (1 000 000+ cases: about 11 s on 2 cores once built; 5 000 000 take about a minute):
//!
//! ```text
//! BFX_PROPTEST_CASES=1000000 cargo test --release -p bfx-core --test hostile_input
//! ```
//!
//! Failures are not persisted (`failure_persistence: None`): no `proptest-regressions` directory
//! is written into the repository; a failure prints its minimal input instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::fmt::Debug;

use bfx_core::conf::parse_conf_maps;
use bfx_core::number::NumberError;
use bfx_core::wallet::parse_wallet_row;
use bfx_core::wire_error::codes;
use bfx_core::{
    ErrorBody, FundingTicker, ParseError, Permission, Ticker, TradingTicker, UserInfo, WalletRow, WalletType,
    classify, parse_error_body, parse_json_number, parse_permissions, parse_tickers, parse_trading_ticker,
    parse_user_info, parse_wallets,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::Value;
use serde_json::value::RawValue;

// ---------------------------------------------------------------------------------------------
// Case budget
// ---------------------------------------------------------------------------------------------

/// Default case count of each property, by name. The sum is [`DEFAULT_TOTAL`].
mod budget {
    pub const BYTES: u32 = 16_000;
    pub const TOKEN_SOUP: u32 = 16_000;
    pub const JSON_VALUES: u32 = 8_000;
    pub const ROW_SHAPED: u32 = 5_000;
    pub const NUMBER_GRAMMAR: u32 = 20_000;
    pub const WALLETS_ROUND_TRIP: u32 = 8_000;
    pub const TICKERS_ROUND_TRIP: u32 = 6_000;
    pub const SINGLE_TICKER_ROUND_TRIP: u32 = 5_000;
    pub const PERMISSIONS_ROUND_TRIP: u32 = 5_000;
    pub const USER_INFO_ROUND_TRIP: u32 = 4_000;
    pub const ERROR_BODIES: u32 = 8_000;
    pub const CONF_MAPS_ROUND_TRIP: u32 = 4_000;
    pub const ALMOST_VALID_WALLETS: u32 = 8_000;
    pub const ALMOST_VALID_TICKERS: u32 = 8_000;

    pub const ALL: [u32; 14] = [
        BYTES,
        TOKEN_SOUP,
        JSON_VALUES,
        ROW_SHAPED,
        NUMBER_GRAMMAR,
        WALLETS_ROUND_TRIP,
        TICKERS_ROUND_TRIP,
        SINGLE_TICKER_ROUND_TRIP,
        PERMISSIONS_ROUND_TRIP,
        USER_INFO_ROUND_TRIP,
        ERROR_BODIES,
        CONF_MAPS_ROUND_TRIP,
        ALMOST_VALID_WALLETS,
        ALMOST_VALID_TICKERS,
    ];
}

/// Cases in a normal run, all properties together.
const DEFAULT_TOTAL: u32 = {
    let mut sum = 0;
    let mut i = 0;
    while i < budget::ALL.len() {
        sum += budget::ALL[i];
        i += 1;
    }
    sum
};

/// The case count of a property whose default is `default`, after `BFX_PROPTEST_CASES`.
fn cases(default: u32) -> u32 {
    let Ok(setting) = std::env::var("BFX_PROPTEST_CASES") else { return default };
    let setting = setting.trim();
    if setting.is_empty() {
        return default;
    }
    let scaled = match setting.strip_prefix(['x', 'X', '*']) {
        Some(factor) => {
            let factor: u64 = factor.parse().expect("BFX_PROPTEST_CASES=xK needs an integer K");
            u64::from(default) * factor
        }
        None => {
            let total: u64 = setting.parse().expect("BFX_PROPTEST_CASES must be N or xK");
            (u64::from(default) * total).div_ceil(u64::from(DEFAULT_TOTAL))
        }
    };
    u32::try_from(scaled.max(1)).unwrap_or(u32::MAX)
}

fn config(default: u32) -> ProptestConfig {
    ProptestConfig { cases: cases(default), failure_persistence: None, ..ProptestConfig::default() }
}

// A normal run has at least 100 000 cases: checked at compile time.
const _: () = assert!(DEFAULT_TOTAL >= 100_000, "a normal run must have at least 100 000 cases");

/// With `BFX_PROPTEST_CASES=N`, the properties together run at least `N` cases.
#[test]
fn case_budget() {
    let total: u64 = budget::ALL.iter().map(|&c| u64::from(cases(c))).sum();
    match std::env::var("BFX_PROPTEST_CASES").ok().and_then(|n| n.trim().parse::<u64>().ok()) {
        Some(requested) => assert!(total >= requested, "{total} < {requested}"),
        None => assert!(total >= 100_000, "{total}"),
    }
    eprintln!("hostile_input: {total} proptest cases in total");
}

// ---------------------------------------------------------------------------------------------
// JSON text generators
// ---------------------------------------------------------------------------------------------

/// Whitespace between tokens (RFC 8259 allows space, tab, CR, LF).
fn ws() -> impl Strategy<Value = &'static str> + Clone {
    select(vec!["", "", "", " ", "\n", "\t", " \r\n  "])
}

/// `[a, b, …]` with `ws` around every token.
fn array(items: &[String], ws: &str) -> String {
    format!("[{ws}{}{ws}]", items.join(&format!("{ws},{ws}")))
}

/// Characters that need care in JSON strings, or in UTF-8.
const SPECIAL_CHARS: [char; 20] = [
    '"',
    '\\',
    '/',
    '\0',
    '\n',
    '\r',
    '\t',
    '\u{8}',
    '\u{c}',
    '\u{1f}',
    '\u{7f}',
    '\u{80}',
    'é',
    '€',
    '\u{2028}',
    '\u{FEFF}',
    '\u{FFFF}',
    '😀',
    '\u{10000}',
    '\u{10FFFF}',
];

/// A character and how to encode it (see [`encode_char`]), from 32 random bits: printable ASCII
/// (60 %), the special characters above (20 %), any scalar value (20 %). Built from plain
/// integers because per-character strategy trees are slow in debug builds; 0 shrinks to a raw
/// space.
fn string_char(bits: u32) -> (char, u8) {
    let mode = (bits & 3) as u8;
    let pick = bits >> 2;
    let rest = pick / 10;
    let c = match pick % 10 {
        0..=5 => char::from(b' ' + (rest % 95) as u8),
        6 | 7 => SPECIAL_CHARS[rest as usize % SPECIAL_CHARS.len()],
        _ => char::from_u32(rest % 0x11_0000).unwrap_or('\u{FFFD}'),
    };
    (c, mode)
}

/// Appends `c` to a JSON string literal: raw (mode 0, when allowed), as a short escape (mode 1,
/// when one exists), or as `\uXXXX` in lower (2) or upper (3) case hex, with a surrogate pair
/// beyond the BMP. Whatever the mode, the literal decodes to `c`.
fn encode_char(c: char, mode: u8, out: &mut String) {
    let short = match c {
        '"' => Some("\\\""),
        '\\' => Some("\\\\"),
        '/' => Some("\\/"),
        '\u{8}' => Some("\\b"),
        '\u{c}' => Some("\\f"),
        '\n' => Some("\\n"),
        '\r' => Some("\\r"),
        '\t' => Some("\\t"),
        _ => None,
    };
    let raw_allowed = c >= ' ' && c != '"' && c != '\\';
    match (mode, short) {
        (0, _) if raw_allowed => out.push(c),
        (0 | 1, Some(esc)) => out.push_str(esc),
        (0 | 1, None) if raw_allowed => out.push(c),
        _ => {
            let code = u32::from(c);
            let units = if code > 0xFFFF {
                let v = code - 0x1_0000;
                vec![0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)]
            } else {
                vec![code]
            };
            for unit in units {
                if mode == 3 {
                    out.push_str(&format!("\\u{unit:04X}"));
                } else {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
}

/// A JSON string: what it decodes to, and its literal (with quotes).
#[derive(Debug, Clone)]
struct JStr {
    decoded: String,
    literal: String,
}

fn jstr_from(chars: &[(char, u8)]) -> JStr {
    let mut literal = String::from("\"");
    let mut decoded = String::new();
    for &(c, mode) in chars {
        decoded.push(c);
        encode_char(c, mode, &mut literal);
    }
    literal.push('"');
    JStr { decoded, literal }
}

fn jstr_len(len: std::ops::Range<usize>) -> impl Strategy<Value = JStr> + Clone {
    vec(any::<u32>(), len).prop_map(|bits| jstr_from(&bits.into_iter().map(string_char).collect::<Vec<_>>()))
}

fn jstr() -> impl Strategy<Value = JStr> + Clone {
    jstr_len(0..12)
}

/// A string that starts with `first` once decoded (its first character may itself be escaped).
fn jstr_starting_with(first: char) -> impl Strategy<Value = JStr> + Clone {
    (0u8..4, vec(any::<u32>(), 0..10)).prop_map(move |(mode, rest)| {
        let mut chars = vec![(first, mode)];
        chars.extend(rest.into_iter().map(string_char));
        jstr_from(&chars)
    })
}

/// A non-empty string, mostly realistic ids.
fn currency() -> impl Strategy<Value = JStr> + Clone {
    prop_oneof![
        2 => select(vec!["BTC", "UST", "UDC", "USD", "ETH", "TESTBTC", "AVAX", "EUR", "USTF0", "XAUT"])
            .prop_map(|id| jstr_from(&id.chars().map(|c| (c, 0)).collect::<Vec<_>>())),
        1 => jstr_len(1..12),
    ]
}

/// An exactly known amount and one JSON text for it.
#[derive(Debug, Clone)]
struct Amount {
    value: Decimal,
    text: String,
    quoted: bool,
}

/// How an amount is written.
#[derive(Debug, Clone)]
struct Notation {
    /// 0: plain; 1: scientific `D.DDDe±E`; 2: scientific `0.000DDDe±E`.
    form: u8,
    /// Zeros appended to the digits (they carry no value).
    pad: usize,
    /// Where the point goes in form 1 (modulo the number of digits).
    split: usize,
    /// Zeros after `0.` in form 2.
    zeros: usize,
    upper_e: bool,
    plus: bool,
    /// Zeros in front of the exponent's digits (`1e0000005` is valid JSON).
    exp_zeros: usize,
    /// `-0`, `-0.000`: a zero with a sign.
    negative_zero: bool,
    quoted: bool,
}

impl Notation {
    /// Decodes 32 random bits. Amounts are generated from a few plain integers, not from a tree
    /// of strategies per field, because the latter is several times slower in debug builds; all
    /// bits 0 (where shrinking goes) is plain notation, no padding, unquoted.
    fn from_bits(bits: u32) -> Notation {
        let field = |shift: u32, width: u32| ((bits >> shift) & ((1 << width) - 1)) as usize;
        Notation {
            form: (field(0, 2) % 3) as u8,
            // 0 (11 times in 16), else 2 to 10 zeros.
            pad: field(2, 4).saturating_sub(10) * 2,
            split: field(6, 8),
            zeros: field(14, 3) % 5,
            upper_e: field(17, 1) == 1,
            plus: field(18, 1) == 1,
            // 0 (12 times in 16), else 2 to 8 zeros: past the 6 digits an exponent holds.
            exp_zeros: field(19, 4).saturating_sub(11) * 2,
            negative_zero: field(23, 1) == 1,
            // 2 times in 16.
            quoted: field(24, 4) < 2,
        }
    }
}

/// 2^96 - 1: the largest mantissa a `Decimal` holds.
const MAX_MANTISSA: i128 = 79_228_162_514_264_337_593_543_950_335;

/// A mantissa from a selector and 128 random bits: an i64 (30 %), a small number (30 %), any
/// 96-bit mantissa (20 %), or an extreme (20 %).
fn mantissa_from(selector: u8, bits: u128) -> i128 {
    const EXTREMES: [i128; 8] = [
        0,
        1,
        -1,
        MAX_MANTISSA,
        -MAX_MANTISSA,
        1_000_000_000_000_000_000,
        123_456_789_012_345_678,
        -100_000_000,
    ];
    match selector % 10 {
        0..=2 => i128::from(bits as u64 as i64),
        3..=5 => (bits % 200_001) as i128 - 100_000,
        6 | 7 => (bits % (2 * MAX_MANTISSA as u128 + 1)) as i128 - MAX_MANTISSA,
        _ => EXTREMES[(bits % 8) as usize],
    }
}

/// Writes `mantissa × 10^-scale` in the given notation.
fn amount_text(mantissa: i128, scale: u32, n: &Notation) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let scale = scale as usize;
    let sign = if mantissa < 0 || (mantissa == 0 && n.negative_zero) { "-" } else { "" };
    let zeros = |count: usize| "0".repeat(count);
    let exponent_text = |e: i64| {
        let sign = if e < 0 {
            "-"
        } else if n.plus {
            "+"
        } else {
            ""
        };
        format!("{}{sign}{}{}", if n.upper_e { 'E' } else { 'e' }, zeros(n.exp_zeros), e.unsigned_abs())
    };
    let number = match n.form {
        0 => {
            let (int, frac) = if digits.len() > scale {
                let (int, frac) = digits.split_at(digits.len() - scale);
                (int.to_owned(), frac.to_owned())
            } else {
                ("0".to_owned(), format!("{}{digits}", zeros(scale - digits.len())))
            };
            let frac = format!("{frac}{}", zeros(n.pad));
            if frac.is_empty() { int } else { format!("{int}.{frac}") }
        }
        1 => {
            // `padded` is |mantissa| × 10^pad, so the value is padded × 10^-(scale + pad).
            let padded = format!("{digits}{}", zeros(n.pad));
            let point = if mantissa == 0 { 1 } else { n.split % padded.len() + 1 };
            let (int, frac) = padded.split_at(point);
            let e = frac.len() as i64 - scale as i64 - n.pad as i64;
            let mantissa_text = if frac.is_empty() { int.to_owned() } else { format!("{int}.{frac}") };
            format!("{mantissa_text}{}", exponent_text(e))
        }
        _ => {
            let padded = format!("{digits}{}", zeros(n.pad));
            let frac = format!("{}{padded}", zeros(n.zeros));
            let e = frac.len() as i64 - scale as i64 - n.pad as i64;
            format!("0.{frac}{}", exponent_text(e))
        }
    };
    let text = format!("{sign}{number}");
    if n.quoted { format!("\"{text}\"") } else { text }
}

/// Exact amounts: up to 96-bit mantissas, 0 to 18 decimal places, every notation.
fn amount() -> impl Strategy<Value = Amount> + Clone {
    (any::<u8>(), any::<u128>(), 0u32..=18, any::<u32>()).prop_map(|(selector, bits, scale, notation)| {
        let m = mantissa_from(selector, bits);
        let n = Notation::from_bits(notation);
        Amount {
            value: Decimal::try_from_i128_with_scale(m, scale).expect("mantissa within 96 bits"),
            text: amount_text(m, scale, &n),
            quoted: n.quoted,
        }
    })
}

/// An amount, or `None` (written `null`) one time in five. Decoded from the same integers as
/// [`amount`] (`prop::option` costs four times as much in debug builds).
fn opt_amount() -> impl Strategy<Value = Option<Amount>> + Clone {
    (any::<u8>(), amount()).prop_map(|(null, a)| (null % 5 != 4).then_some(a))
}

fn amount_or_null(a: &Option<Amount>) -> String {
    a.as_ref().map_or_else(|| "null".to_owned(), |a| a.text.clone())
}

/// Valid JSON number texts of every size: Decimal-sized amounts, i64/u64, f64 in Rust's
/// scientific form, and digit strings far beyond any Decimal or f64 (long fractions, exponents of
/// up to 12 digits).
fn number_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => amount().prop_map(|a| a.text.trim_matches('"').to_owned()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => any::<u64>().prop_map(|u| u.to_string()),
        1 => finite_f64().prop_map(|f| format!("{f:e}")),
        2 => (any::<bool>(), any::<[u128; 2]>(), 0usize..=40, 0usize..=45, prop::option::of((0u8..3, 1usize..=12)))
            .prop_map(|(negative, [a, b], int_len, frac_len, exponent)| {
                // `-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,45})?([eE][-+]?[0-9]{1,12})?`, digits taken from
                // two random u128s (a regex strategy is several times slower in debug builds).
                let pool = format!("{a:039}{b:039}{a:039}");
                let int = if int_len == 0 { "0".to_owned() } else { format!("{}{}", 1 + b % 9, &pool[..int_len - 1]) };
                let frac = if frac_len == 0 { String::new() } else { format!(".{}", &pool[7..7 + frac_len]) };
                let exponent = exponent.map_or_else(String::new, |(sign, len)| {
                    format!("{}{}", ["e", "E+", "e-"][usize::from(sign)], &pool[40..40 + len])
                });
                format!("{}{int}{frac}{exponent}", if negative { "-" } else { "" })
            }),
    ]
}

/// Any finite `f64` (mapped, not filtered: a million cases would exceed proptest's reject limit).
fn finite_f64() -> impl Strategy<Value = f64> + Clone {
    any::<f64>().prop_map(|f| if f.is_finite() { f } else { f64::MAX })
}

/// Any JSON value, as text: `depth` levels of arrays and objects around null, booleans, numbers
/// and strings, with random whitespace.
fn json_text(depth: u32) -> impl Strategy<Value = String> + Clone {
    json_text_with(depth, number_text().boxed())
}

/// Numbers that fit an `f64` (a `serde_json::Value` rejects `1e310`).
fn tame_number_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        (any::<i32>(), any::<u64>()).prop_map(|(i, f)| format!("{i}.{f}")),
    ]
}

fn json_text_with(depth: u32, numbers: BoxedStrategy<String>) -> impl Strategy<Value = String> + Clone {
    json_leaf(numbers).prop_recursive(depth, 32, 5, |inner| json_containers(inner, 6))
}

fn json_leaf(numbers: BoxedStrategy<String>) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        1 => Just("null".to_owned()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        3 => numbers,
        3 => jstr().prop_map(|s| s.literal),
    ]
}

/// Arrays and objects (of up to `max - 1` items) around `inner`.
fn json_containers(
    inner: impl Strategy<Value = String> + Clone,
    max: usize,
) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        (vec(inner.clone(), 0..max), ws()).prop_map(|(items, ws)| array(&items, ws)),
        (vec((jstr(), inner), 0..max - 1), ws()).prop_map(|(entries, ws)| {
            let entries: Vec<String> =
                entries.iter().map(|(k, v)| format!("{}{ws}:{ws}{v}", k.literal)).collect();
            format!("{{{ws}{}{ws}}}", entries.join(&format!("{ws},{ws}")))
        }),
    ]
}

/// A scalar, or one array or object of scalars: for trailing "future" fields. Not built with
/// `prop_recursive`, whose strategy tree is rebuilt for every case (slow in debug builds).
fn flat_json() -> impl Strategy<Value = String> + Clone {
    let leaf = json_leaf(number_text().boxed());
    prop_oneof![3 => leaf.clone(), 1 => json_containers(leaf, 4)]
}

/// [`flat_json`] with numbers that all fit an `f64`.
fn flat_tame_json() -> impl Strategy<Value = String> + Clone {
    let leaf = json_leaf(tame_number_text().boxed());
    prop_oneof![3 => leaf.clone(), 1 => json_containers(leaf, 4)]
}

/// A JSON value that is neither a number, nor a string, nor null: what a "type swap" puts in a
/// numeric or string field.
fn non_scalar_json() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        1 => any::<bool>().prop_map(|b| b.to_string()),
        2 => flat_json().prop_map(|v| format!("[{v}]")),
        1 => (jstr(), flat_json()).prop_map(|(k, v)| format!("{{{}:{v}}}", k.literal)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Feeding everything to every parser
// ---------------------------------------------------------------------------------------------

fn touch<T>(result: Result<T, ParseError>) {
    if let Err(e) = result {
        // Display builds the message from row, field and reason: it must not panic either.
        assert!(e.to_string().starts_with("malformed "));
    }
}

fn check_error_body(status: u16, body: &[u8]) -> ErrorBody {
    let got = parse_error_body(status, body);
    match &got {
        ErrorBody::Exchange { code, message } => {
            assert_ne!(*code, codes::RATE_LIMIT, "11010 is a rate limit");
            let _ = classify(*code, message);
        }
        ErrorBody::RateLimit { .. } => {}
        ErrorBody::Unrecognized { snippet } => {
            assert_ne!(status, 429, "a 429 is always a rate limit");
            assert!(snippet.chars().count() <= 121, "{snippet:?}");
            assert!(!snippet.chars().any(char::is_control), "{snippet:?}");
        }
    }
    got
}

/// Every parser on the same bytes. Only panics (and the invariants above) fail.
fn feed_everything(body: &[u8]) {
    touch(parse_wallets(body));
    touch(parse_tickers(body));
    touch(parse_trading_ticker("tBTCUSD", body));
    touch(parse_permissions(body));
    touch(parse_user_info(body));
    // As many keys as the body has results, so the entries are read too.
    let results = serde_json::from_slice::<Vec<&RawValue>>(body).map_or(1, |results| results.len());
    touch(parse_conf_maps(body, results));
    // Only 429 is special-cased by status.
    for status in [500, 429] {
        check_error_body(status, body);
    }
    if let Ok(raw) = serde_json::from_slice::<&RawValue>(body) {
        touch(parse_wallet_row(raw, Some(3)));
        touch(parse_wallet_row(raw, None));
    }
    let _ = parse_json_number(&String::from_utf8_lossy(body));
}

#[test]
fn deeply_nested_input_does_not_overflow_the_stack() {
    for depth in [127, 128, 129, 1_000, 100_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let in_row = format!(r#"[["exchange","BTC",1,0,null,null,{arrays}]]"#);
        let unclosed = "[".repeat(depth);
        for body in [arrays, objects, in_row, unclosed] {
            feed_everything(body.as_bytes());
        }
    }
}

proptest! {
    #![proptest_config(config(budget::BYTES))]
    /// Arbitrary bytes (mostly not even UTF-8).
    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..512), status in any::<u16>()) {
        feed_everything(&body);
        check_error_body(status, &body);
    }
}

proptest! {
    #![proptest_config(config(budget::TOKEN_SOUP))]
    /// JSON tokens in any order: gets much deeper into the parsers than random bytes.
    #[test]
    fn json_token_soup_never_panics(tokens in vec(select(vec![
        "[", "[", "[", "]", "]", "]", "{", "}", ",", ",", ":", "\"", "null", "true", "0", "-", "1.5", "1e400",
        "-0", "1e-29", "12345678901234567890123456789012", "\"exchange\"", "\"BTC\"", "\"tBTCUSD\"", "\"fUSD\"",
        "\"error\"", "11010", "10100", "\"\\u00", "\\ud83d", "\"é\"", " ", "\n", "\u{0}", "\u{ff}", "e", ".",
    ]), 0..48)) {
        feed_everything(tokens.concat().as_bytes());
    }
}

proptest! {
    #![proptest_config(config(budget::JSON_VALUES))]
    /// Arbitrary JSON values, alone, as the only element of an array, and cut short.
    #[test]
    fn arbitrary_json_never_panics(value in json_text(4), cut in any::<Index>()) {
        feed_everything(value.as_bytes());
        feed_everything(format!("[{value}]").as_bytes());
        let bytes = value.as_bytes();
        feed_everything(&bytes[..cut.index(bytes.len() + 1)]);
    }
}

/// Bodies shaped like the real ones: arrays of rows whose first field is a plausible wallet type,
/// symbol or `"error"`, then amounts and arbitrary values.
fn row_shaped_body() -> impl Strategy<Value = (String, String)> {
    let lead = prop_oneof![
        3 => select(vec![
            "\"exchange\"", "\"margin\"", "\"funding\"", "\"contribution\"", "\"tBTCUSD\"", "\"tAVAX:USD\"",
            "\"fUSD\"", "\"t\"", "\"f\"", "\"\"", "\"error\"", "\"wallets\"", "11010", "10001",
        ])
        .prop_map(str::to_owned),
        1 => flat_json(),
    ];
    let cell = prop_oneof![
        4 => number_text(),
        2 => amount().prop_map(|a| a.text),
        2 => Just("null".to_owned()),
        1 => jstr().prop_map(|s| s.literal),
        1 => flat_json(),
    ];
    let row = (lead, vec(cell, 0..14), ws()).prop_map(|(lead, mut cells, ws)| {
        cells.insert(0, lead);
        array(&cells, ws)
    });
    (vec(row, 1..3), ws()).prop_map(|(rows, ws)| (array(&rows, ws), rows[0].clone()))
}

proptest! {
    #![proptest_config(config(budget::ROW_SHAPED))]
    #[test]
    fn row_shaped_json_never_panics((body, first_row) in row_shaped_body()) {
        feed_everything(body.as_bytes());
        feed_everything(first_row.as_bytes());
    }
}

/// Strings made of the characters of JSON numbers: mostly invalid, sometimes valid.
fn number_like_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => vec(select(vec!["-", "+", "0", "0", "1", "9", "00", "123", ".", ".", "e", "E", "e-", "E+"]), 0..12)
            .prop_map(|parts| parts.concat()),
        2 => number_text(),
        1 => "\\PC{0,16}",
    ]
}

proptest! {
    #![proptest_config(config(budget::NUMBER_GRAMMAR))]
    /// `parse_json_number` accepts exactly the JSON number grammar (serde_json is the reference
    /// for the grammar), and an accepted number is the value serde_json reads as an `f64`.
    #[test]
    fn number_grammar_agrees_with_serde_json(text in number_like_text()) {
        let ours = parse_json_number(&text);
        let is_json_number = !text.starts_with(|c: char| c.is_ascii_whitespace())
            && !text.ends_with(|c: char| c.is_ascii_whitespace())
            && text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
            && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
        prop_assert_eq!(
            matches!(ours, Err(NumberError::NotANumber(_))),
            !is_json_number,
            "{:?} -> {:?}", text, ours
        );
        if let Ok(d) = ours {
            let reference: f64 = serde_json::from_str(&text).unwrap();
            let ours_f64 = d.to_f64().unwrap();
            let tolerance = 1e-12 * reference.abs().max(1e-300);
            prop_assert!((ours_f64 - reference).abs() <= tolerance, "{:?}: {} vs {}", text, d, reference);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wallets
// ---------------------------------------------------------------------------------------------

const WALLET_FIELDS: [&str; 7] = [
    "WALLET_TYPE",
    "CURRENCY",
    "BALANCE",
    "UNSETTLED_INTEREST",
    "AVAILABLE_BALANCE",
    "LAST_CHANGE",
    "LAST_CHANGE_METADATA",
];

/// A generated row: its fields' JSON texts and what parsing them must give.
#[derive(Debug, Clone)]
struct Generated<T> {
    fields: Vec<String>,
    expected: T,
}

/// A metadata object: generated as a `Value`, so its expected value is known.
fn metadata() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_f64().prop_map(Value::from),
        jstr().prop_map(|s| Value::String(s.decoded)),
    ];
    // Two levels without `prop_recursive` (whose strategy is rebuilt for every case).
    let container = prop_oneof![
        vec(leaf.clone(), 0..4).prop_map(Value::Array),
        vec((jstr(), leaf.clone()), 0..4)
            .prop_map(|entries| Value::Object(entries.into_iter().map(|(k, v)| (k.decoded, v)).collect())),
    ];
    let tree = prop_oneof![2 => leaf, 1 => container];
    prop_oneof![
        3 => vec((select(vec!["reason", "order_id", "trade_price", "é"]), tree.clone()), 0..4).prop_map(|entries| {
            Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        }),
        1 => tree,
    ]
}

fn wallet_type() -> impl Strategy<Value = JStr> {
    prop_oneof![
        3 => select(vec!["exchange", "margin", "funding"])
            .prop_map(|t| jstr_from(&t.chars().map(|c| (c, 0)).collect::<Vec<_>>())),
        // Known names with escaped letters, unknown names, the empty name.
        1 => (select(vec!["exchange", "margin", "funding"]), vec(0u8..4, 8))
            .prop_map(|(t, modes)| jstr_from(&t.chars().zip(modes.into_iter().cycle()).collect::<Vec<_>>())),
        2 => jstr(),
    ]
}

/// Valid wallet rows of 4 to 9 fields; fields 7 and 8 are future fields of any JSON value.
fn wallet_row() -> impl Strategy<Value = Generated<WalletRow>> {
    (
        wallet_type(),
        currency(),
        amount(),
        opt_amount(),
        opt_amount(),
        prop::option::weighted(0.6, jstr()),
        prop::option::weighted(0.5, metadata()),
        vec(flat_json(), 2),
        4usize..=9,
    )
        .prop_map(
            |(wallet_type, currency, balance, unsettled, available, last_change, meta, extra, len)| {
                let mut fields = vec![
                    wallet_type.literal.clone(),
                    currency.literal.clone(),
                    balance.text.clone(),
                    amount_or_null(&unsettled),
                    amount_or_null(&available),
                    last_change.as_ref().map_or_else(|| "null".to_owned(), |s| s.literal.clone()),
                    meta.as_ref().map_or_else(|| "null".to_owned(), |m| serde_json::to_string(m).unwrap()),
                ];
                fields.extend(extra);
                fields.truncate(len);
                let present = |i: usize| len > i;
                let expected = WalletRow {
                    wallet_type: WalletType::from(wallet_type.decoded.as_str()),
                    currency: currency.decoded,
                    balance: balance.value,
                    unsettled_interest: unsettled.map(|a| a.value),
                    available: available.filter(|_| present(4)).map(|a| a.value),
                    last_change: last_change.filter(|_| present(5)).map(|s| s.decoded),
                    // A `null` metadata is no metadata; otherwise its raw JSON text, as sent.
                    last_change_metadata: meta
                        .filter(|m| present(6) && !m.is_null())
                        .map(|m| serde_json::to_string(&m).unwrap()),
                };
                Generated { fields, expected }
            },
        )
}

fn assert_wallet_fields(got: &WalletRow, want: &WalletRow) {
    // Field by field first, for a readable failure; then the whole row.
    assert_eq!(got.wallet_type, want.wallet_type);
    assert_eq!(got.currency, want.currency);
    assert_eq!(got.balance, want.balance);
    assert_eq!(got.unsettled_interest, want.unsettled_interest);
    assert_eq!(got.available, want.available);
    assert_eq!(got.last_change, want.last_change);
    assert_eq!(got.last_change_metadata, want.last_change_metadata);
    assert_eq!(got, want);
}

proptest! {
    #![proptest_config(config(budget::WALLETS_ROUND_TRIP))]
    #[test]
    fn wallet_rows_round_trip(
        rows in vec(wallet_row(), 0..4),
        ws in ws(),
        outer in ws(),
    ) {
        let row_texts: Vec<String> = rows.iter().map(|r| array(&r.fields, ws)).collect();
        let body = format!("{outer}{}{outer}", array(&row_texts, ws));
        let got = parse_wallets(body.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{body}"));
        prop_assert_eq!(got.len(), rows.len());
        for (got, row) in got.iter().zip(&rows) {
            assert_wallet_fields(got, &row.expected);
        }
        // The same rows one by one, as a WebSocket `wu` message carries them.
        for (index, text) in row_texts.iter().enumerate() {
            let raw: &RawValue = serde_json::from_str(text).unwrap();
            let got = parse_wallet_row(raw, Some(index)).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_wallet_fields(&got, &rows[index].expected);
        }
    }
}

/// What replaces a field in an "almost valid" body.
#[derive(Debug, Clone)]
enum Replacement {
    Null,
    /// A boolean, array or object: never a number, never a string.
    NonScalar(String),
    Number(Amount),
    /// A string that is not a number (it starts with `x`).
    Text(JStr),
}

impl Replacement {
    fn text(&self) -> String {
        match self {
            Replacement::Null => "null".to_owned(),
            Replacement::NonScalar(text) => text.clone(),
            Replacement::Number(a) => a.text.clone(),
            Replacement::Text(s) => s.literal.clone(),
        }
    }
}

fn replacement() -> impl Strategy<Value = Replacement> {
    prop_oneof![
        2 => Just(Replacement::Null),
        2 => non_scalar_json().prop_map(Replacement::NonScalar),
        2 => amount().prop_map(Replacement::Number),
        1 => jstr_starting_with('x').prop_map(Replacement::Text),
    ]
}

/// One thing broken in a valid body.
#[derive(Debug, Clone)]
enum Mutation {
    Replace { row: Index, field: Index, with: Replacement },
    Remove { row: Index, field: Index },
    Append { row: Index, extra: Vec<String> },
    Truncate { at: Index },
    OverwriteByte { at: Index, byte: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), any::<Index>(), replacement())
            .prop_map(|(row, field, with)| Mutation::Replace { row, field, with }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(row, field)| Mutation::Remove { row, field }),
        1 => (any::<Index>(), vec(flat_json(), 1..3)).prop_map(|(row, extra)| Mutation::Append { row, extra }),
        1 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::OverwriteByte { at, byte }),
    ]
}

/// What a mutated body must parse to, when that is clear-cut.
enum Expect<T> {
    Rows(Vec<T>),
    /// An error naming this row and field.
    Field(usize, &'static str),
    /// An error about the whole body (no row).
    Body,
    /// Anything but a panic.
    NoPanic,
}

/// Applies `mutation` to rows of field texts; returns the body and, for a field mutation, the
/// (row, field, row length before the mutation) it hit.
fn mutate(
    mut rows: Vec<Vec<String>>,
    mutation: &Mutation,
    ws: &str,
) -> (Vec<u8>, Option<(usize, usize, usize)>) {
    let body_of = |rows: &[Vec<String>]| {
        let texts: Vec<String> = rows.iter().map(|r| array(r, ws)).collect();
        array(&texts, ws).into_bytes()
    };
    match mutation {
        Mutation::Replace { row, field, with } => {
            let r = row.index(rows.len());
            let (f, len) = (field.index(rows[r].len()), rows[r].len());
            rows[r][f] = with.text();
            (body_of(&rows), Some((r, f, len)))
        }
        Mutation::Remove { row, field } => {
            let r = row.index(rows.len());
            let (f, len) = (field.index(rows[r].len()), rows[r].len());
            rows[r].remove(f);
            (body_of(&rows), Some((r, f, len)))
        }
        Mutation::Append { row, extra } => {
            let r = row.index(rows.len());
            let len = rows[r].len();
            rows[r].extend(extra.iter().cloned());
            (body_of(&rows), Some((r, len, len)))
        }
        Mutation::Truncate { at } => {
            let mut body = body_of(&rows);
            body.truncate(at.index(body.len()));
            (body, None)
        }
        Mutation::OverwriteByte { at, byte } => {
            let mut body = body_of(&rows);
            let i = at.index(body.len());
            body[i] = *byte;
            (body, None)
        }
    }
}

fn check<T: PartialEq + Debug>(got: Result<Vec<T>, ParseError>, expect: Expect<T>, body: &[u8]) {
    let shown = String::from_utf8_lossy(body);
    match (got, expect) {
        (Ok(got), Expect::Rows(want)) => assert_eq!(got, want, "{shown}"),
        (Err(e), Expect::Field(row, field)) => {
            assert_eq!((e.row, e.field), (Some(row), Some(field)), "{e}\n{shown}");
            touch::<()>(Err(e));
        }
        (Err(e), Expect::Body) => assert_eq!((e.row, e.field), (None, None), "{e}\n{shown}"),
        (got, Expect::NoPanic) => touch(got),
        (Ok(got), _) => panic!("expected an error, got {got:?}\n{shown}"),
        (Err(e), Expect::Rows(_)) => panic!("expected rows, got {e}\n{shown}"),
    }
}

/// The expected outcome of replacing field `f` of wallet row `r`.
fn wallet_replace_expectation(
    mut want: Vec<WalletRow>,
    r: usize,
    f: usize,
    with: &Replacement,
) -> Expect<WalletRow> {
    use Replacement::{NonScalar, Null, Number, Text};
    let row = &mut want[r];
    let Some(&name) = WALLET_FIELDS.get(f) else {
        // A future field: ignored whatever it holds.
        return Expect::Rows(want);
    };
    // A quoted number is a string to the string fields.
    let unquoted = |a: &Amount| a.text.trim_matches('"').to_owned();
    match (f, with) {
        (0..=2, Null) => return Expect::Field(r, name),
        (3, Null) => row.unsettled_interest = None,
        (4, Null) => row.available = None,
        (5, Null) => row.last_change = None,
        (6, Null) => row.last_change_metadata = None,
        (0..=5, NonScalar(_)) => return Expect::Field(r, name),
        (6, NonScalar(v)) => row.last_change_metadata = Some(v.clone()),
        (2, Number(a)) => row.balance = a.value,
        (3, Number(a)) => row.unsettled_interest = Some(a.value),
        (4, Number(a)) => row.available = Some(a.value),
        (0, Number(a)) if a.quoted => row.wallet_type = WalletType::from(unquoted(a).as_str()),
        (1, Number(a)) if a.quoted => row.currency = unquoted(a),
        (5, Number(a)) if a.quoted => row.last_change = Some(unquoted(a)),
        (0 | 1 | 5, Number(_)) => return Expect::Field(r, name),
        (6, Number(a)) => row.last_change_metadata = Some(a.text.clone()),
        (0, Text(s)) => row.wallet_type = WalletType::from(s.decoded.as_str()),
        (1, Text(s)) => row.currency = s.decoded.clone(),
        (2..=4, Text(_)) => return Expect::Field(r, name),
        (5, Text(s)) => row.last_change = Some(s.decoded.clone()),
        (6, Text(s)) => row.last_change_metadata = Some(s.literal.clone()),
        _ => unreachable!("field {f}"),
    }
    Expect::Rows(want)
}

proptest! {
    #![proptest_config(config(budget::ALMOST_VALID_WALLETS))]
    #[test]
    fn almost_valid_wallet_bodies(rows in vec(wallet_row(), 1..4), mutation in mutation(), ws in ws()) {
        let want: Vec<WalletRow> = rows.iter().map(|r| r.expected.clone()).collect();
        let fields: Vec<Vec<String>> = rows.into_iter().map(|r| r.fields).collect();
        let (body, hit) = mutate(fields, &mutation, ws);
        let expect = match (&mutation, hit) {
            (Mutation::Replace { with, .. }, Some((r, f, _))) => wallet_replace_expectation(want, r, f, with),
            // Removing a future field changes nothing.
            (Mutation::Remove { .. }, Some((_, f, _))) if f >= WALLET_FIELDS.len() => Expect::Rows(want),
            // Extra fields after the seven documented ones are ignored.
            (Mutation::Append { .. }, Some((_, _, len))) if len >= WALLET_FIELDS.len() => Expect::Rows(want),
            (Mutation::Truncate { .. }, _) => Expect::Body,
            _ => Expect::NoPanic,
        };
        check(parse_wallets(&body), expect, &body);
    }
}

// ---------------------------------------------------------------------------------------------
// Tickers
// ---------------------------------------------------------------------------------------------

const TRADING_FIELDS: [&str; 11] = [
    "SYMBOL",
    "BID",
    "BID_SIZE",
    "ASK",
    "ASK_SIZE",
    "DAILY_CHANGE",
    "DAILY_CHANGE_RELATIVE",
    "LAST_PRICE",
    "VOLUME",
    "HIGH",
    "LOW",
];

/// Funding row field names; 14 and 15 are placeholders (`_`), 16 is `FRR_AMOUNT_AVAILABLE`.
const FUNDING_FIELDS: [&str; 17] = [
    "SYMBOL",
    "FRR",
    "BID",
    "BID_PERIOD",
    "BID_SIZE",
    "ASK",
    "ASK_PERIOD",
    "ASK_SIZE",
    "DAILY_CHANGE",
    "DAILY_CHANGE_RELATIVE",
    "LAST_PRICE",
    "VOLUME",
    "HIGH",
    "LOW",
    "_",
    "_",
    "FRR_AMOUNT_AVAILABLE",
];

/// The trading ticker field at `i` (1 = BID … 10 = LOW, as in a `tickers` row).
fn trading_slot(t: &mut TradingTicker, i: usize) -> &mut Option<Decimal> {
    match i {
        1 => &mut t.bid,
        2 => &mut t.bid_size,
        3 => &mut t.ask,
        4 => &mut t.ask_size,
        5 => &mut t.daily_change,
        6 => &mut t.daily_change_relative,
        7 => &mut t.last_price,
        8 => &mut t.volume,
        9 => &mut t.high,
        10 => &mut t.low,
        _ => unreachable!("trading field {i}"),
    }
}

/// The funding ticker's decimal field at `i`, or `None` for the periods and placeholders.
fn funding_slot(t: &mut FundingTicker, i: usize) -> Option<&mut Option<Decimal>> {
    Some(match i {
        1 => &mut t.frr,
        2 => &mut t.bid,
        4 => &mut t.bid_size,
        5 => &mut t.ask,
        7 => &mut t.ask_size,
        8 => &mut t.daily_change,
        9 => &mut t.daily_change_relative,
        10 => &mut t.last_price,
        11 => &mut t.volume,
        12 => &mut t.high,
        13 => &mut t.low,
        16 => &mut t.frr_amount_available,
        _ => return None,
    })
}

fn funding_period(t: &mut FundingTicker, i: usize) -> Option<&mut Option<i64>> {
    match i {
        3 => Some(&mut t.bid_period),
        6 => Some(&mut t.ask_period),
        _ => None,
    }
}

/// The 10 values of a trading ticker (BID … LOW), with extra trailing fields.
fn trading_values() -> impl Strategy<Value = (Vec<Option<Amount>>, Vec<String>)> {
    (vec(opt_amount(), 10), prop_oneof![3 => Just(Vec::new()), 1 => vec(flat_json(), 1..3)])
}

fn trading_ticker(symbol: String, values: &[Option<Amount>]) -> TradingTicker {
    let mut t = TradingTicker {
        symbol,
        bid: None,
        bid_size: None,
        ask: None,
        ask_size: None,
        daily_change: None,
        daily_change_relative: None,
        last_price: None,
        volume: None,
        high: None,
        low: None,
    };
    for (i, value) in values.iter().enumerate() {
        *trading_slot(&mut t, i + 1) = value.as_ref().map(|a| a.value);
    }
    t
}

fn trading_row() -> impl Strategy<Value = Generated<Ticker>> {
    (jstr_starting_with('t'), trading_values()).prop_map(|(symbol, (values, extra))| {
        let mut fields = vec![symbol.literal];
        fields.extend(values.iter().map(amount_or_null));
        fields.extend(extra);
        Generated { fields, expected: Ticker::Trading(trading_ticker(symbol.decoded, &values)) }
    })
}

fn funding_row() -> impl Strategy<Value = Generated<Ticker>> {
    (
        jstr_starting_with('f'),
        vec(opt_amount(), 17),
        vec(prop::option::weighted(0.8, any::<i64>()), 2),
        vec(flat_json(), 2),
        14usize..=17,
        prop_oneof![3 => Just(Vec::new()), 1 => vec(flat_json(), 1..3)],
    )
        .prop_map(|(symbol, amounts, periods, placeholders, len, extra)| {
            let mut t = FundingTicker {
                symbol: symbol.decoded,
                frr: None,
                bid: None,
                bid_period: periods[0],
                bid_size: None,
                ask: None,
                ask_period: periods[1],
                ask_size: None,
                daily_change: None,
                daily_change_relative: None,
                last_price: None,
                volume: None,
                high: None,
                low: None,
                frr_amount_available: None,
            };
            let mut fields = vec![symbol.literal];
            for i in 1..17 {
                if let Some(slot) = funding_slot(&mut t, i) {
                    if i < len {
                        *slot = amounts[i].as_ref().map(|a| a.value);
                    }
                    fields.push(amount_or_null(&amounts[i]));
                } else if i == 3 || i == 6 {
                    let period = periods[usize::from(i == 6)];
                    fields.push(period.map_or_else(|| "null".to_owned(), |p| p.to_string()));
                } else {
                    fields.push(placeholders[i - 14].clone());
                }
            }
            fields.truncate(len);
            if len == 17 {
                fields.extend(extra);
            }
            Generated { fields, expected: Ticker::Funding(t) }
        })
}

fn ticker_row() -> impl Strategy<Value = Generated<Ticker>> {
    prop_oneof![trading_row(), funding_row()]
}

proptest! {
    #![proptest_config(config(budget::TICKERS_ROUND_TRIP))]
    #[test]
    fn tickers_round_trip(rows in vec(ticker_row(), 0..5), ws in ws(), outer in ws()) {
        let texts: Vec<String> = rows.iter().map(|r| array(&r.fields, ws)).collect();
        let body = format!("{outer}{}{outer}", array(&texts, ws));
        let got = parse_tickers(body.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{body}"));
        let want: Vec<Ticker> = rows.into_iter().map(|r| r.expected).collect();
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(config(budget::SINGLE_TICKER_ROUND_TRIP))]
    /// `ticker/tXXX`: ten fields, no symbol; the symbol is the caller's.
    #[test]
    fn single_trading_ticker_round_trips(symbol in jstr(), (values, extra) in trading_values(), ws in ws()) {
        let mut fields: Vec<String> = values.iter().map(amount_or_null).collect();
        fields.extend(extra);
        let body = array(&fields, ws);
        let got = parse_trading_ticker(&symbol.decoded, body.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{body}"));
        prop_assert_eq!(got, trading_ticker(symbol.decoded, &values));
        // Too short by one field: an error naming LOW.
        let short = array(&fields[..9], ws);
        let e = parse_trading_ticker("tBTCUSD", short.as_bytes()).unwrap_err();
        prop_assert_eq!(e.field, Some("LOW"));
    }
}

/// The expected outcome of replacing field `f` of ticker row `r`.
fn ticker_replace_expectation(
    mut want: Vec<Ticker>,
    r: usize,
    f: usize,
    with: &Replacement,
) -> Expect<Ticker> {
    use Replacement::{NonScalar, Null, Number, Text};
    if f == 0 {
        // Null, non-scalars, numbers and strings starting with `x` or a digit: not t… nor f….
        return Expect::Field(r, "SYMBOL");
    }
    match &mut want[r] {
        Ticker::Trading(t) => {
            if f >= TRADING_FIELDS.len() {
                return Expect::Rows(want);
            }
            let slot = trading_slot(t, f);
            match with {
                Null => *slot = None,
                Number(a) => *slot = Some(a.value),
                NonScalar(_) | Text(_) => return Expect::Field(r, TRADING_FIELDS[f]),
            }
        }
        Ticker::Funding(t) => {
            if f >= FUNDING_FIELDS.len() || f == 14 || f == 15 {
                return Expect::Rows(want);
            }
            if let Some(period) = funding_period(t, f) {
                match with {
                    Null => *period = None,
                    // An integer field: `2`, not `2.0`, `2e0` or `"2"`; only check consistency.
                    Number(_) => return Expect::NoPanic,
                    NonScalar(_) | Text(_) => return Expect::Field(r, FUNDING_FIELDS[f]),
                }
            } else if let Some(slot) = funding_slot(t, f) {
                match with {
                    Null => *slot = None,
                    Number(a) => *slot = Some(a.value),
                    NonScalar(_) | Text(_) => return Expect::Field(r, FUNDING_FIELDS[f]),
                }
            }
        }
    }
    Expect::Rows(want)
}

proptest! {
    #![proptest_config(config(budget::ALMOST_VALID_TICKERS))]
    #[test]
    fn almost_valid_ticker_bodies(rows in vec(ticker_row(), 1..4), mutation in mutation(), ws in ws()) {
        let want: Vec<Ticker> = rows.iter().map(|r| r.expected.clone()).collect();
        let fields: Vec<Vec<String>> = rows.into_iter().map(|r| r.fields).collect();
        let (body, hit) = mutate(fields, &mutation, ws);
        let documented = |r: usize| match want[r] {
            Ticker::Trading(_) => TRADING_FIELDS.len(),
            Ticker::Funding(_) => FUNDING_FIELDS.len(),
        };
        let minimum = |r: usize| match want[r] {
            Ticker::Trading(_) => 11,
            Ticker::Funding(_) => 14,
        };
        let expect = match (&mutation, hit) {
            (Mutation::Replace { with, .. }, Some((r, f, _))) => ticker_replace_expectation(want.clone(), r, f, with),
            // The next field (an amount or null) becomes the symbol.
            (Mutation::Remove { .. }, Some((r, 0, _))) => Expect::Field(r, "SYMBOL"),
            (Mutation::Remove { .. }, Some((r, f, _))) if f >= documented(r) => Expect::Rows(want.clone()),
            (Mutation::Remove { .. }, Some((r, _, len))) if len == minimum(r) => Expect::Field(r, "LOW"),
            (Mutation::Append { .. }, Some((r, _, len))) if len >= documented(r) => Expect::Rows(want.clone()),
            (Mutation::Truncate { .. }, _) => Expect::Body,
            _ => Expect::NoPanic,
        };
        let got = parse_tickers(&body);
        // A funding period replaced by a number: if it parses, it is that number.
        if let (Mutation::Replace { with: Replacement::Number(a), .. }, Some((r, f @ (3 | 6), _)), Ok(got)) =
            (&mutation, hit, &got)
            && let Ticker::Funding(t) = &got[r]
            && matches!(want[r], Ticker::Funding(_))
        {
            let period = if f == 3 { t.bid_period } else { t.ask_period };
            prop_assert_eq!(period.map(Decimal::from), Some(a.value), "{}", a.text);
        }
        check(got, expect, &body);
    }
}

// ---------------------------------------------------------------------------------------------
// Permissions, user info, error bodies, conf maps
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(budget::PERMISSIONS_ROUND_TRIP))]
    #[test]
    fn permissions_round_trip(
        rows in vec((
            prop_oneof![
                3 => select(vec!["account", "history", "orders", "positions", "funding", "settings", "wallets",
                    "withdraw", "ui_withdraw", "bfxpay", "eaas_agreement"])
                    .prop_map(|s| jstr_from(&s.chars().map(|c| (c, 0)).collect::<Vec<_>>())),
                1 => jstr(),
            ],
            any::<bool>(),
            any::<bool>(),
            prop_oneof![3 => Just(Vec::new()), 1 => vec(flat_json(), 1..3)],
        ), 0..12),
        ws in ws(),
        bad in 2i64..=i64::MAX,
        bad_row in any::<Index>(),
        bad_field in 1usize..=2,
    ) {
        let flag = |b: bool| if b { "1".to_owned() } else { "0".to_owned() };
        let mut fields: Vec<Vec<String>> = rows
            .iter()
            .map(|(scope, read, write, extra)| {
                let mut row = vec![scope.literal.clone(), flag(*read), flag(*write)];
                row.extend(extra.iter().cloned());
                row
            })
            .collect();
        let texts: Vec<String> = fields.iter().map(|r| array(r, ws)).collect();
        let body = array(&texts, ws);
        let got = parse_permissions(body.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{body}"));
        let want: Vec<Permission> = rows
            .iter()
            .map(|(scope, read, write, _)| Permission { scope: scope.decoded.clone(), read: *read, write: *write })
            .collect();
        prop_assert_eq!(got, want);
        // A flag other than 0 or 1 names its row and field.
        if !fields.is_empty() {
            let r = bad_row.index(fields.len());
            fields[r][bad_field] = bad.to_string();
            let texts: Vec<String> = fields.iter().map(|r| array(r, ws)).collect();
            let e = parse_permissions(array(&texts, ws).as_bytes()).unwrap_err();
            prop_assert_eq!((e.row, e.field), (Some(r), Some(if bad_field == 1 { "READ" } else { "WRITE" })));
        }
    }
}

proptest! {
    #![proptest_config(config(budget::USER_INFO_ROUND_TRIP))]
    #[test]
    fn user_info_round_trips(
        id in any::<i64>(),
        email in prop::option::weighted(0.8, jstr()),
        username in prop::option::weighted(0.8, jstr()),
        len in 1usize..=3,
        extra in vec(flat_json(), 0..5),
        ws in ws(),
    ) {
        let literal = |s: &Option<JStr>| s.as_ref().map_or_else(|| "null".to_owned(), |s| s.literal.clone());
        let mut fields = vec![id.to_string(), literal(&email), literal(&username)];
        fields.truncate(len);
        if len == 3 {
            fields.extend(extra);
        }
        let body = array(&fields, ws);
        let got = parse_user_info(body.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{body}"));
        let want = UserInfo {
            id,
            email: email.filter(|_| len > 1).map(|s| s.decoded),
            username: username.filter(|_| len > 2).map(|s| s.decoded),
        };
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(config(budget::ERROR_BODIES))]
    /// `["error", code, "msg"]` (with `"error"` itself possibly escaped, the message a string,
    /// `null` or absent, and trailing fields): an exchange error with that code and message, or a
    /// rate limit for 11010, whatever the status. Cut short, it is still never a panic.
    #[test]
    fn error_bodies_parse_to_their_code_and_message(
        status in any::<u16>(),
        error_modes in vec(0u8..4, 5),
        code in prop_oneof![
            3 => select(vec![10001i64, 10020, 10100, 10114, 11000, 11010, 20060]),
            2 => any::<i64>(),
        ],
        message in prop_oneof![
            3 => jstr().prop_map(Some),
            1 => Just(None),
        ],
        shape in 0u8..4,
        // Tame: a number beyond f64 anywhere in the body makes it unrecognised (see the report).
        extra in vec(flat_tame_json(), 0..3),
        ws in ws(),
        cut in any::<Index>(),
    ) {
        let error = jstr_from(&"error".chars().zip(error_modes).collect::<Vec<_>>());
        let mut fields = vec![error.literal, code.to_string()];
        let want_message = match (shape, &message) {
            // Message field present.
            (0..=1, Some(m)) => {
                fields.push(m.literal.clone());
                fields.extend(extra);
                m.decoded.clone()
            }
            // `null` message.
            (2, _) | (0..=1, None) => {
                fields.push("null".to_owned());
                fields.extend(extra);
                String::new()
            }
            // No message field.
            _ => String::new(),
        };
        let body = array(&fields, ws);
        let got = check_error_body(status, body.as_bytes());
        let want = if code == codes::RATE_LIMIT {
            ErrorBody::RateLimit { code: Some(code), message: want_message }
        } else {
            ErrorBody::Exchange { code, message: want_message }
        };
        prop_assert_eq!(got, want, "{}", body);
        let bytes = body.as_bytes();
        check_error_body(status, &bytes[..cut.index(bytes.len())]);
    }
}

/// An entry of a conf map: a `[from, to, …]` pair, or something that is not one (skipped).
fn conf_entry() -> impl Strategy<Value = (String, Option<(String, String)>)> {
    prop_oneof![
        // Tame: a number beyond f64 in any entry fails the whole response (see the report).
        3 => (jstr(), jstr(), vec(flat_tame_json(), 0..2)).prop_map(|(from, to, extra)| {
            let mut items = vec![from.literal, to.literal];
            items.extend(extra);
            (array(&items, ""), Some((from.decoded, to.decoded)))
        }),
        1 => prop_oneof![
            Just("[]".to_owned()),
            Just("null".to_owned()),
            any::<i64>().prop_map(|i| i.to_string()),
            jstr().prop_map(|s| s.literal),
            jstr().prop_map(|s| format!("[{}]", s.literal)),
            (jstr(), any::<i32>()).prop_map(|(s, n)| format!("[{},{n}]", s.literal)),
            (jstr(), any::<i32>()).prop_map(|(s, n)| format!("[{n},{}]", s.literal)),
            (jstr(), jstr()).prop_map(|(a, b)| format!("{{{}:{}}}", a.literal, b.literal)),
        ]
        .prop_map(|junk| (junk, None)),
    ]
}

proptest! {
    #![proptest_config(config(budget::CONF_MAPS_ROUND_TRIP))]
    #[test]
    fn conf_maps_round_trip(maps in vec(prop::option::weighted(0.9, vec(conf_entry(), 0..6)), 0..4), ws in ws()) {
        let texts: Vec<String> = maps
            .iter()
            .map(|map| match map {
                None => "null".to_owned(),
                Some(entries) => array(&entries.iter().map(|(text, _)| text.clone()).collect::<Vec<_>>(), ws),
            })
            .collect();
        let body = array(&texts, ws);
        let want: Vec<Vec<(String, String)>> = maps
            .iter()
            .map(|map| map.iter().flatten().filter_map(|(_, pair)| pair.clone()).collect())
            .collect();
        let got = parse_conf_maps(body.as_bytes(), maps.len()).unwrap_or_else(|e| panic!("{e}\n{body}"));
        prop_assert_eq!(got, want);
        prop_assert!(parse_conf_maps(body.as_bytes(), maps.len() + 1).is_err());
    }
}
