//! Why accounts failed, for the full-screen view: each account that failed for good, or whose last
//! REST poll failed, with the message and hint exactly as `bfx balances` prints them
//! (`error: account "cold": …`, then `hint: …`), word-wrapped to the screen; where that does not
//! fit, the errors alone (the NDJSON form has every word). Nothing is cut: the view asks for a
//! larger terminal rather than show part of an error.

use bfx_client::StreamState;
use ratatui::style::{Color, Style};
use ratatui::text::Line;

use super::SecretSources;
use crate::exit::diagnose;
use crate::output::terminal_safe;
use bfx_client::live::Model;

/// One failed account, explained: `error: account "cold": message`, and `hint: …` when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    pub hint: Option<String>,
}

/// The accounts that failed for good or whose last poll failed, in the model's order.
pub fn failures(model: &Model, sources: &SecretSources) -> Vec<Failure> {
    model
        .accounts
        .iter()
        .filter_map(|account| match &account.state {
            StreamState::Failed { error } | StreamState::PollFailed { error } => {
                let d = diagnose(error, sources.of(&account.name));
                // The message may quote the server: never raw control characters.
                let error = format!("error: account {:?}: {}", account.name, d.message);
                Some(Failure {
                    error: terminal_safe(&error).into_owned(),
                    hint: d.hint.map(|hint| terminal_safe(&format!("hint: {hint}")).into_owned()),
                })
            }
            _ => None,
        })
        .collect()
}

/// Every failure in full, wrapped to `width` columns: the error from column 1, the hint under
/// it from column 3 (as `balances` indents it), each continued under its first word.
pub fn full(failures: &[Failure], width: usize) -> Vec<Line<'static>> {
    explain(failures, width, true)
}

/// Every failure's error, whole and wrapped as in [`full`], without the hints: for a terminal
/// too short for them.
pub fn errors(failures: &[Failure], width: usize) -> Vec<Line<'static>> {
    explain(failures, width, false)
}

fn explain(failures: &[Failure], width: usize, hints: bool) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for failure in failures {
        lines.extend(wrap(&failure.error, width, " ", "   ").into_iter().map(|l| Line::styled(l, red())));
        if let (true, Some(hint)) = (hints, &failure.hint) {
            lines.extend(wrap(hint, width, "   ", "         ").into_iter().map(Line::from));
        }
    }
    lines
}

fn red() -> Style {
    Style::new().fg(Color::Red)
}

/// `text` in lines of at most `width` columns, broken between words (a word longer than a line
/// is broken where it must be); the first line starts with `first`, the others with `rest`.
fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_owned();
    let mut used = columns(first);
    // Whether `line` holds anything after its indent.
    let mut content = false;
    for word in text.split_whitespace() {
        if content && used + 1 + columns(word) > width {
            lines.push(std::mem::replace(&mut line, rest.to_owned()));
            used = columns(rest);
            content = false;
        }
        if content {
            line.push(' ');
            used += 1;
        }
        for c in word.chars() {
            let w = columns(c.encode_utf8(&mut [0; 4]));
            if content && used + w > width {
                lines.push(std::mem::replace(&mut line, rest.to_owned()));
                used = columns(rest);
            }
            line.push(c);
            used += w;
            content = true;
        }
    }
    if content {
        lines.push(line);
    }
    lines
}

/// Terminal columns `text` takes.
fn columns(text: &str) -> usize {
    Line::from(text).width()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_between_words_and_indents_continuations() {
        assert_eq!(wrap("aa bb cc dd", 9, " ", "   "), [" aa bb cc", "   dd"]);
        assert_eq!(wrap("aa bb", 20, " ", "   "), [" aa bb"]);
        // A word longer than a line is broken where it must be, and nothing exceeds the width.
        let lines = wrap("x abcdefghijklmnop y", 8, " ", "   ");
        assert_eq!(lines, [" x", "   abcde", "   fghij", "   klmno", "   p y"]);
        assert!(lines.iter().all(|l| columns(l) <= 8));
        assert_eq!(wrap("", 8, " ", "   "), Vec::<String>::new());
        // Columns, not bytes: `→` is one column of three bytes.
        assert_eq!(wrap("a → b", 5, " ", " "), [" a →", " b"]);
    }
}
