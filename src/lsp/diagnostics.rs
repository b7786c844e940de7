//! `cnnc check`'s diagnostics as LSP diagnostics: the primary label's span
//! is the range, the other labels are related information, notes and help
//! follow the message.

use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, Uri};

use super::document::Document;
use crate::diagnostic::{Diagnostic, Severity, Span};

pub fn to_lsp(uri: &Uri, doc: &Document) -> Vec<lsp_types::Diagnostic> {
    doc.diagnostics.iter().map(|d| one(uri, doc, d)).collect()
}

fn one(uri: &Uri, doc: &Document, d: &Diagnostic) -> lsp_types::Diagnostic {
    let (span, label) = d
        .labels
        .first()
        .map_or((Span::new(0, 0), ""), |(s, l)| (*s, l.as_str()));
    let mut message = d.message.clone();
    if !label.is_empty() {
        message.push_str(&format!("\n{label}"));
    }
    for note in &d.notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .skip(1)
        .map(|(span, text)| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), doc.range(*span)),
            message: text.clone(),
        })
        .collect();
    lsp_types::Diagnostic {
        range: doc.range(span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        source: Some("cnnc".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp_types::Diagnostic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckOptions;

    #[test]
    fn secondary_labels_become_related_information() {
        let text = "input 8x8x1\nstem: conv 4 3x3 same relu\nconv 8 3x3 stride 2 same\nadd stem\ndense 2";
        let doc = Document::new(text.into(), &CheckOptions::default());
        let uri: Uri = "file:///m.cnn".parse().unwrap();
        let [d] = &to_lsp(&uri, &doc)[..] else {
            panic!("one diagnostic")
        };
        assert_eq!(d.severity, Some(DiagnosticSeverity::ERROR));
        assert_eq!(
            d.range,
            lsp_types::Range::new(lsp_types::Position::new(3, 4), lsp_types::Position::new(3, 8))
        );
        assert!(
            d.message.starts_with(
                "`add` needs tensors of one shape, but gets 4x4x8 and 8x8x4\nthis is 8x8x4\nhelp: "
            ),
            "{}",
            d.message
        );
        let related: Vec<(u32, &str)> = d
            .related_information
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| (r.location.range.start.line, r.message.as_str()))
            .collect();
        assert_eq!(
            related,
            vec![(2, "`conv2` outputs 4x4x8"), (1, "`conv1` outputs 8x8x4")]
        );
    }

    #[test]
    fn warnings_are_warnings() {
        let text = "input 8x8x1\nx: conv 4 1x1\nconv 3 1x1\nconv 2 1x1 from x\ndense 2\n";
        let doc = Document::new(text.into(), &CheckOptions::default());
        let uri: Uri = "file:///m.cnn".parse().unwrap();
        let all = to_lsp(&uri, &doc);
        assert!(!all.is_empty());
        assert!(
            all.iter()
                .all(|d| d.severity == Some(DiagnosticSeverity::WARNING)),
            "{all:?}"
        );
    }
}
