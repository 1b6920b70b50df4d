//! Everything bfx says on stderr (logs, waits) goes through [`Stderr`], so the full-screen view
//! can hold it back while it owns the terminal, and print it once the normal screen is back:
//! nothing is drawn over the view, and nothing is lost.

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What is held while the view runs; beyond this much, the oldest lines are let go.
const HOLD_LIMIT: usize = 256 * 1024;

/// `Some` while held.
static HELD: Mutex<Option<Vec<u8>>> = Mutex::new(None);

fn held() -> MutexGuard<'static, Option<Vec<u8>>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds stderr output until [`release`].
pub fn hold() {
    held().get_or_insert_with(Vec::new);
}

/// Writes out what was held (the view has left the alternate screen) and stops holding.
pub fn release() {
    if let Some(text) = held().take() {
        let _ = io::stderr().write_all(&text);
    }
}

/// Whether stderr is held (a countdown redrawn in place would be pointless).
pub fn is_held() -> bool {
    held().is_some()
}

/// stderr, or the hold while there is one. A `tracing` writer as well as an `io::Write`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match held().as_mut() {
            Some(text) => {
                text.extend_from_slice(buf);
                if text.len() > HOLD_LIMIT {
                    let excess = text.len() - HOLD_LIMIT;
                    let cut =
                        text[excess..].iter().position(|b| *b == b'\n').map_or(excess, |i| excess + i + 1);
                    text.drain(..cut);
                }
                Ok(buf.len())
            }
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_lines_come_out_on_release_and_the_oldest_go_first() {
        hold();
        assert!(is_held());
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..300 {
            Stderr.write_all(line.as_bytes()).unwrap();
        }
        Stderr.write_all(b"last\n").unwrap();
        {
            let text = held();
            let text = text.as_ref().unwrap();
            assert!(text.len() <= HOLD_LIMIT);
            assert!(text.ends_with(b"last\n"));
            assert!(text.starts_with(line.as_bytes()), "cut at a line boundary");
        }
        release();
        assert!(!is_held());
    }
}
