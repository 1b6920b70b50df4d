//! Lines made of pieces that are never broken, for the view's header and footer: as many pieces
//! on a line as fit the screen, the rest on the next lines. A piece holds a number with its unit
//! or a phrase; a narrow terminal gets more lines, never a cut number or a lost note.

use ratatui::text::{Line, Span};

/// Spans kept on one line, and the gap before them when they follow another piece on its line.
#[derive(Debug, Clone)]
pub struct Piece {
    pub gap: &'static str,
    pub spans: Vec<Span<'static>>,
}

impl Piece {
    pub fn new(gap: &'static str, spans: Vec<Span<'static>>) -> Piece {
        Piece { gap, spans }
    }

    fn width(&self) -> usize {
        self.spans.iter().map(Span::width).sum()
    }
}

/// The columns `pieces` need at least: the widest, after the indent of a continued line.
pub fn min_width(pieces: &[Piece], indent: &str) -> usize {
    pieces.iter().map(|p| indent.len() + p.width()).max().unwrap_or(0)
}

/// `pieces` in lines of at most `width` columns where each piece fits (see [`min_width`]):
/// a piece goes on the current line, after its gap, if it fits there, else it starts the next
/// line after `indent`.
pub fn flow(pieces: &[Piece], width: usize, indent: &'static str) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for piece in pieces {
        if line.is_empty() {
            // The first line starts with the first piece as it is; it carries its own margin.
            if !lines.is_empty() {
                line.push(Span::raw(indent));
                used = indent.len();
            }
        } else if used + piece.gap.len() + piece.width() <= width {
            line.push(Span::raw(piece.gap));
            used += piece.gap.len();
        } else {
            lines.push(Line::from(std::mem::take(&mut line)));
            line.push(Span::raw(indent));
            used = indent.len();
        }
        line.extend(piece.spans.iter().cloned());
        used += piece.width();
    }
    if !line.is_empty() {
        lines.push(Line::from(line));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn pieces_fill_a_line_then_continue_indented() {
        let pieces = [
            Piece::new("", vec![Span::raw(" q quit")]),
            Piece::new("   ", vec![Span::raw("prices: live;")]),
            Piece::new(" ", vec![Span::raw("paper"), Span::raw(" left out")]),
        ];
        assert_eq!(text(&flow(&pieces, 80, " ")), [" q quit   prices: live; paper left out"]);
        assert_eq!(text(&flow(&pieces, 30, " ")), [" q quit   prices: live;", " paper left out"]);
        // Each piece on its own line at the narrowest width, none cut.
        assert_eq!(min_width(&pieces, " "), 15);
        assert_eq!(text(&flow(&pieces, 15, " ")), [" q quit", " prices: live;", " paper left out"]);
        assert!(flow(&[], 10, " ").is_empty());
    }
}
