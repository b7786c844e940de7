//! `cnnc fmt`: a model file in one canonical layout. One statement per
//! line (`;`-joined lines are split), each in canonical form
//! ([`statement`]), block bodies indented by two spaces, comments kept
//! where they were (own-line comments at the indentation of their place,
//! trailing ones after their statement, at their column when it still
//! fits), at most one blank line in a row, and a final newline.
//!
//! Formatting is a matter of syntax: a file that does not parse is
//! refused with the parser's diagnostics, so the formatter never guesses
//! at a broken line. A file that parses but does not check (a shape error)
//! is formatted; its statements, and therefore its meaning and its
//! diagnostics, stay the same.

mod statement;

use crate::diagnostic::Diagnostics;
use crate::kinds::SIGNATURES;
use crate::syntax::{self, Line};

const INDENT: &str = "  ";

/// The canonical text of a model file, or why it cannot be formatted.
pub fn format(source: &str) -> Result<String, Diagnostics> {
    syntax::parse(source, SIGNATURES)?;
    let mut out = Output::default();
    let mut depth = 0usize;
    for physical in physical_lines(source) {
        let (code, comment) = match physical.find('#') {
            Some(at) => (&physical[..at], Some(&physical[at..])),
            None => (physical, None),
        };
        let statements: Vec<&str> = code.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
        if statements.is_empty() {
            match comment {
                Some(comment) => out.line(depth, "", Some((comment, 0))),
                None => out.blank(),
            }
            continue;
        }
        // A column is kept only where the line stays one line.
        let column = if statements.len() == 1 {
            code.chars().count()
        } else {
            0
        };
        for (i, text) in statements.iter().enumerate() {
            // Every statement parsed as part of the whole file above.
            let line = syntax::parse_line(text, SIGNATURES).map_err(|d| Diagnostics(vec![d]))?;
            if matches!(line, Line::End(_)) {
                depth = depth.saturating_sub(1);
            }
            let printed = statement::print_line(&line, text);
            let trailing = (i + 1 == statements.len()).then_some(comment).flatten();
            out.line(depth, &printed, trailing.map(|c| (c, column)));
            if matches!(line, Line::BlockStart(_)) {
                depth += 1;
            }
        }
    }
    Ok(out.finish())
}

/// Lines as the grammar separates them: `\n`, `\r\n` or a lone `\r`.
fn physical_lines(source: &str) -> impl Iterator<Item = &str> {
    source
        .split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
}

/// The text being written, blank lines collapsed.
#[derive(Default)]
struct Output {
    text: String,
    /// A blank line is due before the next line (never at the start).
    blank_pending: bool,
}

impl Output {
    fn blank(&mut self) {
        self.blank_pending = !self.text.is_empty();
    }

    /// A line at `depth`, with a comment after it; the comment keeps its
    /// column (`at`, in characters) when the code leaves room for it.
    fn line(&mut self, depth: usize, code: &str, comment: Option<(&str, usize)>) {
        if std::mem::take(&mut self.blank_pending) {
            self.text.push('\n');
        }
        let mut line = INDENT.repeat(depth);
        line.push_str(code);
        if let Some((comment, at)) = comment {
            if !code.is_empty() {
                let width = line.chars().count();
                line.push_str(&" ".repeat(at.saturating_sub(width).max(1)));
            }
            line.push_str(comment.trim_end());
        }
        self.text.push_str(&line);
        self.text.push('\n');
    }

    fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn one_liner_is_expanded_and_blocks_indented() {
        let src = "input 8x8x1;conv 4 3x3 relu same ;  pool 2\nblock b(f)\nconv f 3x3 same\n  # inside\nend\nb(4)  # call\n\n\n\ndense 10";
        let expected = "input 8x8x1\nconv 4 3x3 same relu\npool 2\nblock b(f)\n  conv f 3x3 same\n  # inside\nend\nb(4)  # call\n\ndense 10\n";
        assert_eq!(format(src).unwrap(), expected);
        assert_eq!(format(expected).unwrap(), expected);
    }

    #[test]
    fn trailing_comments_keep_their_column_when_they_fit() {
        let src = "param width = 32          # knob\ninput 28x28x1 # shape\nconv width*2 3x3  relu           # long code\n";
        let out = format(src).unwrap();
        assert_eq!(
            out,
            "param width = 32          # knob\ninput 28x28x1 # shape\nconv width*2 3x3 relu            # long code\n"
        );
        assert_eq!(format(&out).unwrap(), out);
    }

    #[test]
    fn a_comment_after_joined_statements_follows_the_last() {
        let out = format("input 8x8x1; dense 2 # two\r\n").unwrap();
        assert_eq!(out, "input 8x8x1\ndense 2 # two\n");
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused() {
        let err = format("input 8x8x1\nconv 32 3x3 rellu\n").unwrap_err();
        assert!(err.0[0].message.contains("rellu"), "{err:?}");
    }

    #[test]
    fn leading_and_trailing_blank_lines_go() {
        assert_eq!(
            format("\n\n# c\n\ninput 1x1x1\n\n\n").unwrap(),
            "# c\n\ninput 1x1x1\n"
        );
    }
}
