//! Checks on one value of a state file, wherever it sits: a refusal names the value's span and
//! the reason, and the loader turns it into `FILE:LINE: reason`.
//!
//! Kept below both the loader and the position rules, so neither imports the other's internals.

use std::ops::Range;

use bfx_core::parse_json_number;
use toml::Spanned;

/// A value the emulator refuses: where it is in the file's text, and why.
#[derive(Debug)]
pub(super) struct Refused {
    pub(super) at: Range<usize>,
    pub(super) reason: String,
}

impl Refused {
    pub(super) fn new(at: Range<usize>, reason: impl Into<String>) -> Refused {
        Refused { at, reason: reason.into() }
    }
}

/// Keeps a number's text as written, after checking it is a JSON number an exact decimal holds.
pub(super) fn number(value: Spanned<String>, what: &str) -> Result<String, Refused> {
    match parse_json_number(value.get_ref()) {
        Ok(_) => Ok(value.into_inner()),
        Err(e) => Err(Refused::new(value.span(), format!("{what}: {e}"))),
    }
}
