//! Exact decimals from JSON number text.
//!
//! Bitfinex sends amounts as JSON numbers (`1.5`, `1e-8`, `-0.00000001`, 18 decimals). Going through
//! `f64` would turn `0.123456789012345678` into `0.12345678901234568`, so amounts are read from the
//! number's text, digit by digit, into a [`Decimal`]. A number a `Decimal` cannot hold exactly (more
//! than 28 decimal places, or beyond ±7.9e28) is an error, never a rounded value.

use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    #[error("{0:?} is not a JSON number")]
    NotANumber(String),
    #[error("{0} has more than 28 decimal places and cannot be held exactly")]
    TooPrecise(String),
    #[error("{0} is too large to be held exactly (limit ±7.9e28)")]
    TooLarge(String),
}

/// The number's text as an error shows it: a hostile server's megabyte-long literal is not
/// echoed whole into messages.
fn shown(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text.to_owned(),
    }
}

/// Parses the text of a JSON number (RFC 8259 grammar, exponent allowed) exactly.
pub fn parse_json_number(text: &str) -> Result<Decimal, NumberError> {
    let not_a_number = || NumberError::NotANumber(shown(text));
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || (int_part.len() > 1 && int_part.starts_with('0')) {
        return Err(not_a_number());
    }
    if frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(not_a_number());
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if !all_digits(digits) {
                return Err(not_a_number());
            }
            // An exponent this long cannot describe a value a Decimal holds either way.
            if digits.trim_start_matches('0').len() > 6 {
                return Err(NumberError::TooLarge(shown(text)));
            }
            e.parse().map_err(|_| not_a_number())?
        }
    };

    let frac = frac_part.unwrap_or("");
    let mut digits: String = format!("{int_part}{frac}").trim_start_matches('0').to_owned();
    let mut scale = frac.len() as i64 - exponent;
    // Trailing zeros carry no value: drop them while they are after the point.
    while scale > 0 && digits.ends_with('0') {
        digits.pop();
        scale -= 1;
    }
    if digits.is_empty() {
        return Ok(Decimal::ZERO);
    }
    if scale < 0 {
        if digits.len() as i64 - scale > 29 {
            return Err(NumberError::TooLarge(shown(text)));
        }
        digits.extend(std::iter::repeat_n('0', (-scale) as usize));
        scale = 0;
    }
    if scale > i64::from(Decimal::MAX_SCALE) {
        return Err(NumberError::TooPrecise(shown(text)));
    }
    if digits.len() > 29 {
        return Err(NumberError::TooLarge(shown(text)));
    }
    let magnitude: i128 = digits.parse().map_err(|_| NumberError::TooLarge(shown(text)))?;
    let signed = if negative { -magnitude } else { magnitude };
    // `scale` is within 0..=28 here.
    Decimal::try_from_i128_with_scale(signed, scale as u32).map_err(|_| NumberError::TooLarge(shown(text)))
}

/// The canonical text of an amount: no exponent, no trailing zeros after the point, no `-0`.
pub fn format_decimal(value: Decimal) -> String {
    value.normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn exact_values() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("1.5", "1.5"),
            ("0.123456789012345678", "0.123456789012345678"),
            ("1e-8", "0.00000001"),
            ("1E-8", "0.00000001"),
            ("-0.00000001", "-0.00000001"),
            ("-1e-8", "-0.00000001"),
            ("2.5e3", "2500"),
            ("2.5E+3", "2500"),
            ("1.50000", "1.5"),
            ("114698.945701", "114698.945701"),
            ("12345678901234567890", "12345678901234567890"),
            ("0.0000000000000000000000000001", "0.0000000000000000000000000001"),
            ("1.0000000000000000000000000000000", "1"),
        ];
        for (text, want) in cases {
            let got = parse_json_number(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(format_decimal(got), want, "{text}");
        }
    }

    #[test]
    fn precision_beyond_f64_is_kept() {
        let got = parse_json_number("0.123456789012345678").unwrap();
        assert_eq!(got, dec("0.123456789012345678"));
        // What a float-based client shows for the same text.
        let via_f64: f64 = "0.123456789012345678".parse().unwrap();
        assert_eq!(via_f64.to_string(), "0.12345678901234568");
        assert_ne!(got.to_string(), via_f64.to_string());
    }

    #[test]
    fn not_json_numbers() {
        for bad in [
            "", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "NaN", "Infinity", "1_000", " 1", "1 ",
            "\"1\"", "null", "--1",
        ] {
            assert!(matches!(parse_json_number(bad), Err(NumberError::NotANumber(_))), "{bad:?}");
        }
    }

    #[test]
    fn unrepresentable_numbers_are_errors_not_rounded() {
        assert!(matches!(parse_json_number("1e-29"), Err(NumberError::TooPrecise(_))));
        let huge = "9".repeat(1_000_000);
        let message = parse_json_number(&huge).unwrap_err().to_string();
        assert!(message.len() < 200 && message.contains("(1000000 bytes)"), "{message}");
        assert!(matches!(
            parse_json_number("0.12345678901234567890123456789"),
            Err(NumberError::TooPrecise(_))
        ));
        assert!(matches!(parse_json_number("1e29"), Err(NumberError::TooLarge(_))));
        assert!(matches!(parse_json_number("1e400"), Err(NumberError::TooLarge(_))));
        assert!(matches!(parse_json_number("1e99999999999"), Err(NumberError::TooLarge(_))));
        assert!(matches!(parse_json_number("123456789012345678901234567890"), Err(NumberError::TooLarge(_))));
    }

    proptest! {
        #[test]
        fn decimal_text_round_trips(m in any::<i64>(), scale in 0u32..=18) {
            let d = Decimal::new(m, scale);
            let text = d.to_string();
            prop_assert_eq!(parse_json_number(&text).unwrap(), d);
        }

        #[test]
        fn scientific_matches_plain(m in any::<i32>(), exp in -10i32..=10) {
            let text = format!("{m}e{exp}");
            let plain = if exp >= 0 {
                Decimal::from(m) * Decimal::from(10i64.pow(exp as u32))
            } else {
                Decimal::new(i64::from(m), exp.unsigned_abs())
            };
            prop_assert_eq!(parse_json_number(&text).unwrap(), plain);
        }

        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = parse_json_number(&text);
        }
    }
}
