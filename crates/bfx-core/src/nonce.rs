//! Nonces: per API key, strictly increasing, at most 2^53 − 1.
//!
//! Bitfinex rejects a nonce that is not greater than the last one it accepted for the key
//! (`10114 nonce: small`) and the only reset is a new key. bfx uses microseconds since the epoch,
//! like the official clients, and never goes backwards: [`next_nonce`] is `max(last + 1, now_us)`.

use std::fmt;
use std::str::FromStr;

/// A Bitfinex nonce. Always within `1..=Nonce::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nonce(u64);

impl Nonce {
    /// 2^53 − 1: the documented maximum for the WebSocket `authNonce`, applied to REST too.
    pub const MAX: Nonce = Nonce(9_007_199_254_740_991);

    /// A nonce from a value known to be in range (for constants and tests).
    pub const fn new_unchecked(value: u64) -> Nonce {
        Nonce(value)
    }

    /// A nonce from a raw value, refusing 0 and anything above [`Nonce::MAX`].
    pub fn new(value: u64) -> Result<Nonce, NonceError> {
        if value == 0 || value > Nonce::MAX.0 {
            return Err(NonceError::OutOfRange { value });
        }
        Ok(Nonce(value))
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Nonce {
    type Err = NonceError;

    /// Parses a nonce as Bitfinex accepts it: ASCII decimal digits only, no sign, no spaces.
    fn from_str(text: &str) -> Result<Nonce, NonceError> {
        if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NonceError::Malformed);
        }
        let value = text.parse::<u64>().map_err(|_| NonceError::Malformed)?;
        Nonce::new(value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceError {
    #[error("nonce {value} is outside 1..=9007199254740991 (2^53 - 1)")]
    OutOfRange { value: u64 },
    #[error(
        "the nonce for this key has reached 2^53 - 1 (last used {last}); Bitfinex accepts no larger nonce, so this key can no longer be used: create a new API key"
    )]
    Exhausted { last: Nonce },
    #[error("nonce is not a decimal number")]
    Malformed,
}

/// The next nonce to use for a key: `max(last + 1, now_us)`, strictly greater than `last`.
///
/// `last` is the largest nonce this key has used (if known); `now_us` is the wall clock in
/// microseconds since the Unix epoch. A clock that goes backwards never makes the nonce go
/// backwards. Fails once the result would exceed [`Nonce::MAX`].
pub fn next_nonce(last: Option<Nonce>, now_us: u64) -> Result<Nonce, NonceError> {
    let after_last = match last {
        Some(last) if last >= Nonce::MAX => return Err(NonceError::Exhausted { last }),
        Some(last) => last.0 + 1,
        None => 1,
    };
    let candidate = after_last.max(now_us);
    if candidate > Nonce::MAX.0 {
        // The clock is beyond 2^53 µs (year 2255) or garbage; fall back to counting.
        return Ok(Nonce(after_last));
    }
    Ok(Nonce(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000_000_000;

    #[test]
    fn first_nonce_is_the_clock() {
        assert_eq!(next_nonce(None, NOW), Ok(Nonce(NOW)));
    }

    #[test]
    fn same_microsecond_still_increases() {
        let a = next_nonce(None, NOW).unwrap();
        let b = next_nonce(Some(a), NOW).unwrap();
        assert_eq!(b.get(), NOW + 1);
    }

    #[test]
    fn clock_going_backwards_does_not_decrease() {
        let last = Nonce(NOW + 500);
        assert_eq!(next_nonce(Some(last), NOW), Ok(Nonce(NOW + 501)));
    }

    #[test]
    fn exhausted_at_max() {
        assert_eq!(next_nonce(Some(Nonce::MAX), NOW), Err(NonceError::Exhausted { last: Nonce::MAX }));
        let below = Nonce(Nonce::MAX.0 - 1);
        assert_eq!(next_nonce(Some(below), NOW), Ok(Nonce::MAX));
    }

    #[test]
    fn absurd_clock_never_exceeds_max() {
        assert_eq!(next_nonce(Some(Nonce(5)), u64::MAX), Ok(Nonce(6)));
    }

    #[test]
    fn parse_accepts_digits_only() {
        assert_eq!("1700000000000000".parse(), Ok(Nonce(NOW)));
        assert_eq!("9007199254740991".parse(), Ok(Nonce::MAX));
        assert_eq!(
            "9007199254740992".parse::<Nonce>(),
            Err(NonceError::OutOfRange { value: 9_007_199_254_740_992 })
        );
        for bad in ["", "-1", "+1", " 1", "1.0", "1e6", "abc", "99999999999999999999999"] {
            assert_eq!(bad.parse::<Nonce>(), Err(NonceError::Malformed), "{bad:?}");
        }
        assert_eq!("0".parse::<Nonce>(), Err(NonceError::OutOfRange { value: 0 }));
    }

    proptest! {
        #[test]
        fn always_strictly_increasing_and_bounded(last in 1u64..Nonce::MAX.0, now in any::<u64>()) {
            let next = next_nonce(Some(Nonce(last)), now).unwrap();
            prop_assert!(next.get() > last);
            prop_assert!(next <= Nonce::MAX);
        }
    }
}
