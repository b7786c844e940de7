//! One diagnostic type for every stage, rendered in one place.
//!
//! Stages report problems as [`Diagnostic`]s that point into the model's
//! source by byte span; [`render`] turns them into rustc-style text (file,
//! line, column, the source line, a caret, notes and help) with
//! `annotate-snippets`, the renderer rustc itself uses.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// A half-open byte range into a model's source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// A value with the span of source text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem found in a model, with where it is and what would fix it.
///
/// The first label is the primary one (the caret); later labels give
/// context, such as the layer whose output a failing layer received.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<(Span, String)>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push((span, text.into()));
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The diagnostics of one stage; an error type that carries every problem
/// found, not only the first.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{}", d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Renders diagnostics against the source they point into, without colour.
pub fn render(path: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    render_with(Renderer::plain(), path, source, diagnostics)
}

/// As [`render`], with colour (for a terminal).
pub fn render_styled(path: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    render_with(Renderer::styled(), path, source, diagnostics)
}

fn render_with(renderer: Renderer, path: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut group = level.clone().primary_title(d.message.as_str()).element(
            Snippet::source(source)
                .path(path)
                .fold(true)
                .annotations(d.labels.iter().enumerate().map(|(i, (span, text))| {
                    let kind = if i == 0 {
                        AnnotationKind::Primary
                    } else {
                        AnnotationKind::Context
                    };
                    kind.span(clamp(*span, source)).label(text.as_str())
                })),
        );
        if d.labels.is_empty() {
            // A problem with no place in the file (a `--set` of an unknown
            // name, say) still names the file it concerns.
            group = Group::with_title(level.primary_title(d.message.as_str()))
                .element(Level::NOTE.message(format!("in {path}")));
        }
        for note in &d.notes {
            group = group.element(Level::NOTE.message(note.as_str()));
        }
        if let Some(help) = &d.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    out
}

/// Keeps a span inside the source and on character boundaries, so a bad
/// span can never make rendering panic.
fn clamp(span: Span, source: &str) -> Range<usize> {
    let mut start = span.start.min(source.len());
    let mut end = span.end.clamp(start, source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .filter_map(|c| {
            let distance = strsim::damerau_levenshtein(&lower, c);
            let close = distance <= (c.len().max(lower.len()) / 3).max(1)
                || (lower.len() >= 3 && (lower.starts_with(c) || c.starts_with(&lower)));
            close.then_some((distance, c))
        })
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_prefixes() {
        let kws = ["conv", "pool", "dense", "relu", "tanh"];
        assert_eq!(closest("rellu", kws.iter().copied()), Some("relu"));
        assert_eq!(closest("Conv", kws.iter().copied()), Some("conv"));
        assert_eq!(closest("denser", kws.iter().copied()), Some("dense"));
        assert_eq!(closest("xyz", kws.iter().copied()), None);
    }

    #[test]
    fn renders_file_line_column_and_caret() {
        let src = "input 28x28x1\nconv 32 3x3 rellu\n";
        let d = Diagnostic::error("unknown activation `rellu`")
            .label(Span::new(26, 31), "not an activation")
            .help("did you mean `relu`?");
        let text = render("m.cnn", src, &[d]);
        assert!(text.contains("m.cnn:2:13"), "{text}");
        assert!(text.contains("^^^^^ not an activation"), "{text}");
        assert!(text.contains("help: did you mean `relu`?"), "{text}");
    }

    #[test]
    fn out_of_range_spans_do_not_panic() {
        let d = Diagnostic::error("x").label(Span::new(100, 200), "here");
        let text = render("m.cnn", "é", &[d]);
        assert!(text.contains("error: x"));
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
    }
}
