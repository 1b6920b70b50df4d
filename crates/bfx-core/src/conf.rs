//! `GET /v2/conf/KEY1,KEY2,…`: one result per key, in order. bfx reads the string maps
//! (`pub:map:currency:sym` display names, `pub:map:currency:undl` derivative underlyings), which
//! are arrays of `[FROM, TO]` pairs.

use serde_json::Value;
use serde_json::value::RawValue;

use crate::parse::{ParseError, preview};

/// Parses a conf response for `keys` requested keys into one list of `(from, to)` pairs per key.
///
/// A map entry that is not `[string, string, …]` is skipped (maps are advisory: display names and
/// underlyings); a response with the wrong number of results is an error.
pub fn parse_conf_maps(body: &[u8], keys: usize) -> Result<Vec<Vec<(String, String)>>, ParseError> {
    const WHAT: &str = "conf";
    let fail = |reason: String| ParseError { what: WHAT, row: None, field: None, reason };
    let results: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| fail(e.to_string()))?;
    if results.len() != keys {
        return Err(fail(format!("asked for {keys} keys, got {} results", results.len())));
    }
    results
        .into_iter()
        .enumerate()
        .map(|(index, raw)| match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Array(entries)) => Ok(entries.iter().filter_map(pair).collect()),
            Ok(Value::Null) => Ok(Vec::new()),
            _ => Err(ParseError {
                what: WHAT,
                row: Some(index),
                field: None,
                reason: format!("expected an array of pairs, found {}", preview(raw.get())),
            }),
        })
        .collect()
}

fn pair(entry: &Value) -> Option<(String, String)> {
    match entry.as_array()?.as_slice() {
        [Value::String(from), Value::String(to), ..] => Some((from.clone(), to.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_in_request_order() {
        let body = br#"[[["UST","USDt"],["UDC","USDC"],["odd"],[1,2]],[["USTF0","UST"]],null]"#;
        let maps = parse_conf_maps(body, 3).unwrap();
        assert_eq!(maps[0], vec![("UST".into(), "USDt".into()), ("UDC".into(), "USDC".into())]);
        assert_eq!(maps[1], vec![("USTF0".into(), "UST".into())]);
        assert!(maps[2].is_empty());
    }

    #[test]
    fn wrong_shapes_are_errors() {
        assert!(parse_conf_maps(b"[[]]", 2).unwrap_err().reason.contains("asked for 2 keys, got 1"));
        assert_eq!(parse_conf_maps(br#"[{"a":1}]"#, 1).unwrap_err().row, Some(0));
        assert!(parse_conf_maps(b"<html>", 1).is_err());
    }
}
