//! One open file: its text, where its lines start, and what the compiler
//! makes of it (diagnostics, the checked model, the symbol index), all
//! recomputed on every change.

use lsp_types::{Position, Range};

use super::index::Index;
use crate::Model;
use crate::diagnostic::{Diagnostic, Span};
use crate::model::CheckOptions;

/// An open document and its analysis.
pub struct Document {
    pub text: String,
    lines: LineIndex,
    /// Every problem `cnnc check` reports, errors then warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked model, when the file checks.
    pub model: Option<Model>,
    /// Definitions and references, from every statement that parses.
    pub index: Index,
}

impl Document {
    pub fn new(text: String, options: &CheckOptions) -> Document {
        let lines = LineIndex::new(&text);
        let (model, diagnostics) = match crate::syntax::parse(&text, crate::kinds::SIGNATURES) {
            Err(d) => (None, d.0),
            Ok(program) => match crate::model::check(&program, options) {
                Ok(model) => {
                    let warnings = model.warnings.clone();
                    (Some(model), warnings)
                }
                Err(d) => (None, d.0),
            },
        };
        let index = Index::build(&text);
        Document {
            text,
            lines,
            diagnostics,
            model,
            index,
        }
    }

    /// The LSP position (UTF-16 columns) of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        self.lines.position(&self.text, offset)
    }

    pub fn range(&self, span: Span) -> Range {
        Range::new(self.position(span.start), self.position(span.end))
    }

    /// The byte offset of an LSP position, clamped into the text.
    pub fn offset(&self, position: Position) -> usize {
        self.lines.offset(&self.text, position)
    }

    /// The 0-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.lines.line_of(offset)
    }

    /// Byte range of a line, without its line break.
    pub fn line_span(&self, line: usize) -> Span {
        self.lines.line_span(&self.text, line)
    }

    pub fn line_count(&self) -> usize {
        self.lines.starts.len()
    }
}

/// Where each line starts; lines end at `\n`, `\r\n` or `\r`, as the
/// grammar and LSP both say.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            let breaks = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if breaks {
                starts.push(i + 1);
            }
        }
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    fn line_span(&self, text: &str, line: usize) -> Span {
        let start = self.starts.get(line).copied().unwrap_or(text.len());
        let mut end = self.starts.get(line + 1).copied().unwrap_or(text.len());
        let body = &text.as_bytes()[start..end];
        if body.ends_with(b"\r\n") {
            end -= 2;
        } else if body.ends_with(b"\n") || body.ends_with(b"\r") {
            end -= 1;
        }
        Span::new(start, end)
    }

    fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let start = self.starts[line];
        let character = text[start..offset].encode_utf16().count();
        Position::new(line as u32, character as u32)
    }

    fn offset(&self, text: &str, position: Position) -> usize {
        let line = position.line as usize;
        if line >= self.starts.len() {
            return text.len();
        }
        let span = self.line_span(text, line);
        let mut units = 0u32;
        for (i, c) in text[span.range()].char_indices() {
            if units >= position.character {
                return span.start + i;
            }
            units += c.len_utf16() as u32;
        }
        span.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_and_every_line_break() {
        let text = "é𝄞x\r\nab\rc";
        let lines = LineIndex::new(text);
        assert_eq!(lines.starts, vec![0, 9, 12]);
        assert_eq!(lines.position(text, 6), Position::new(0, 3));
        assert_eq!(lines.offset(text, Position::new(0, 3)), 6);
        assert_eq!(lines.offset(text, Position::new(0, 99)), 7);
        assert_eq!(lines.offset(text, Position::new(9, 0)), text.len());
        assert_eq!(lines.position(text, 13), Position::new(2, 1));
        // Inside a character: the start of it.
        assert_eq!(lines.position(text, 1), Position::new(0, 0));
    }
}
