//! The error every wire parser returns: what was being parsed, where, and why it failed.

use std::fmt;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::number::{NumberError, parse_json_number};

/// A response that could not be read. Names the row (0-based, as in the JSON array) and the field
/// (Bitfinex's documented field name) so a user can find the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// What was being parsed, e.g. `"wallets"`.
    pub what: &'static str,
    /// Index of the row within the response array, if the failure is inside a row.
    pub row: Option<usize>,
    /// Field name, e.g. `"BALANCE"`.
    pub field: Option<&'static str>,
    pub reason: String,
}

impl ParseError {
    pub(crate) fn body(what: &'static str, reason: impl Into<String>) -> ParseError {
        ParseError { what, row: None, field: None, reason: reason.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {} response", self.what)?;
        if let Some(row) = self.row {
            write!(f, ", row {row}")?;
        }
        if let Some(field) = self.field {
            write!(f, ", field {field}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Splits a response body into the raw JSON of each element of its top-level array.
pub(crate) fn top_level_rows<'a>(
    what: &'static str,
    body: &'a [u8],
) -> Result<Vec<&'a RawValue>, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError::body(what, json_reason(&e, body)))
}

fn json_reason(error: &serde_json::Error, body: &[u8]) -> String {
    if body.iter().all(u8::is_ascii_whitespace) {
        return "empty body".to_owned();
    }
    match error.classify() {
        serde_json::error::Category::Eof => format!("truncated JSON ({error})"),
        serde_json::error::Category::Data => format!("expected a JSON array ({error})"),
        _ => format!("invalid JSON ({error})"),
    }
}

/// One positional row (`[FIELD0, FIELD1, …]`), read field by field with errors that name the field.
pub(crate) struct Row<'a> {
    what: &'static str,
    index: Option<usize>,
    fields: Vec<&'a RawValue>,
}

impl<'a> Row<'a> {
    /// `raw` must be a JSON array; `index` is its position in the response, if it is one of many.
    pub(crate) fn new(
        what: &'static str,
        index: Option<usize>,
        raw: &'a RawValue,
    ) -> Result<Row<'a>, ParseError> {
        let fields = serde_json::from_str(raw.get()).map_err(|_| ParseError {
            what,
            row: index,
            field: None,
            reason: format!("expected an array, found {}", preview(raw.get())),
        })?;
        Ok(Row { what, index, fields })
    }

    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    pub(crate) fn error(&self, field: &'static str, reason: impl Into<String>) -> ParseError {
        ParseError { what: self.what, row: self.index, field: Some(field), reason: reason.into() }
    }

    /// The field's JSON text, or `None` when the row is too short or the field is `null`.
    fn present(&self, i: usize) -> Option<&'a str> {
        self.fields.get(i).map(|raw| raw.get()).filter(|text| *text != "null")
    }

    fn required(&self, i: usize, name: &'static str) -> Result<&'a str, ParseError> {
        match self.fields.get(i) {
            None => Err(self.error(name, format!("missing (row has {} fields)", self.len()))),
            Some(raw) if raw.get() == "null" => Err(self.error(name, "is null")),
            Some(raw) => Ok(raw.get()),
        }
    }

    pub(crate) fn string(&self, i: usize, name: &'static str) -> Result<String, ParseError> {
        self.to_string_value(self.required(i, name)?, name)
    }

    pub(crate) fn opt_string(&self, i: usize, name: &'static str) -> Result<Option<String>, ParseError> {
        self.present(i).map(|text| self.to_string_value(text, name)).transpose()
    }

    pub(crate) fn decimal(&self, i: usize, name: &'static str) -> Result<Decimal, ParseError> {
        self.to_decimal(self.required(i, name)?, name)
    }

    pub(crate) fn opt_decimal(&self, i: usize, name: &'static str) -> Result<Option<Decimal>, ParseError> {
        self.present(i).map(|text| self.to_decimal(text, name)).transpose()
    }

    pub(crate) fn integer(&self, i: usize, name: &'static str) -> Result<i64, ParseError> {
        let text = self.required(i, name)?;
        text.parse().map_err(|_| self.error(name, format!("expected an integer, found {}", preview(text))))
    }

    pub(crate) fn opt_integer(&self, i: usize, name: &'static str) -> Result<Option<i64>, ParseError> {
        match self.present(i) {
            None => Ok(None),
            Some(_) => self.integer(i, name).map(Some),
        }
    }

    /// A free-form field (such as `LAST_CHANGE_METADATA`) as its raw JSON text: kept, not
    /// interpreted, so nothing in it (a number beyond `f64`, say) can fail the row.
    pub(crate) fn opt_raw(&self, i: usize) -> Option<String> {
        self.present(i).map(str::to_owned)
    }

    fn to_string_value(&self, text: &str, name: &'static str) -> Result<String, ParseError> {
        serde_json::from_str::<String>(text)
            .map_err(|_| self.error(name, format!("expected a string, found {}", preview(text))))
    }

    /// A JSON number, read exactly; a string holding a JSON number is accepted too.
    fn to_decimal(&self, text: &str, name: &'static str) -> Result<Decimal, ParseError> {
        // Only a string is unquoted first: trying every number as a string would build (and
        // format) a serde error per field, most of the cost of parsing a tickers body.
        let number_text = match text.trim_start().starts_with('"') {
            true => std::borrow::Cow::Owned(
                serde_json::from_str::<String>(text)
                    .map_err(|_| self.error(name, format!("expected a number, found {}", preview(text))))?,
            ),
            false => std::borrow::Cow::Borrowed(text),
        };
        parse_json_number(&number_text).map_err(|e| match e {
            NumberError::NotANumber(_) => {
                self.error(name, format!("expected a number, found {}", preview(text)))
            }
            other => self.error(name, other.to_string()),
        })
    }
}

/// The first characters of a JSON text, for error messages.
pub(crate) fn preview(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
