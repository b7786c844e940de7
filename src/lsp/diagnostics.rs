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
