//! State files on disk: refused at load with the file, the line and the reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::io::Write;

use bfx_sim::{SimState, StateError};
use common::TEST_STATE;

fn load(text: &str) -> (String, Result<SimState, StateError>) {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let path = file.path().display().to_string();
    (path, SimState::load(file.path()))
}

/// Replaces the first occurrence of `from` and returns the error of loading the result.
fn error_after(from: &str, to: &str) -> String {
    assert!(TEST_STATE.contains(from), "{from}");
    let (path, loaded) = load(&TEST_STATE.replacen(from, to, 1));
    let message = loaded.err().unwrap().to_string();
    message.strip_prefix(&path).unwrap_or_else(|| panic!("{message} does not start with {path}")).to_owned()
}

#[test]
fn a_valid_file_loads() {
    let (_, loaded) = load(TEST_STATE);
    assert_eq!(loaded.unwrap().keys().len(), 2);
}

#[test]
fn unknown_field() {
    let e = error_after("  last_change = \"Deposit\"\n", "  last_change = \"Deposit\"\n  note = \"x\"\n");
    assert_eq!(
        e,
        ":22: unknown field `note`, expected one of `type`, `currency`, `balance`, `unsettled_interest`, `available`, `last_change`"
    );
}

#[test]
fn bad_number_text() {
    assert_eq!(
        error_after("\"0.123456789012345678\"", "\"0,12\""),
        ":19: balance: \"0,12\" is not a JSON number"
    );
    assert_eq!(
        error_after("\"2.5E-7\"", "\"+2.5\""),
        ":26: unsettled_interest: \"+2.5\" is not a JSON number"
    );
    assert_eq!(error_after("\"8.25\"", "\"8.25 \""), ":39: ticker field: \"8.25 \" is not a JSON number");
}

#[test]
fn duplicate_account() {
    assert_eq!(
        error_after("name = \"empty\"", "name = \"alice\""),
        ":29: duplicate account \"alice\" (first at line 3)"
    );
}

#[test]
fn duplicate_key() {
    assert_eq!(
        error_after("key = \"k-empty\"", "key = \"k-alice\""),
        ":33: duplicate API key \"k-alice\" (first at line 7); a key belongs to one account"
    );
}

#[test]
fn wrong_ticker_row_length() {
    assert_eq!(
        error_after("\"0.000123\", ", ""),
        ":47: ticker \"fUSD\" row has 15 fields; a funding row has 16 after the symbol"
    );
}

#[test]
fn unknown_permission_value() {
    assert_eq!(
        error_after("withdraw = \"\"", "withdraw = \"write\""),
        ":9: permission withdraw = \"write\" is not one of \"\", \"r\", \"w\", \"rw\""
    );
}

#[test]
fn unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let e = SimState::load(&missing).err().unwrap();
    assert!(matches!(e, StateError::Read { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!("{}: cannot read the state file: ", missing.display())),
        "{e}"
    );
}
