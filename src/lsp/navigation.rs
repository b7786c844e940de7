//! Go to definition, find references, the outline (document symbols) and
//! inlay hints with each line's output shape.

use lsp_types::{
    DocumentSymbol, InlayHint, InlayHintKind, InlayHintLabel, Location, Position, SymbolKind as Kind, Uri,
};

use super::document::Document;
use super::hover::layers_of_line;

pub fn definition(uri: &Uri, doc: &Document, offset: usize) -> Option<Location> {
    let o = doc.index.at(offset)?;
    let def = doc.index.definition(o)?;
    Some(Location::new(uri.clone(), doc.range(def.span)))
}

pub fn references(uri: &Uri, doc: &Document, offset: usize, with_declaration: bool) -> Vec<Location> {
    let Some(def) = doc.index.at(offset).and_then(|o| doc.index.definition(o)) else {
        return Vec::new();
    };
    let mut spans = Vec::new();
    if with_declaration {
        spans.push(def.span);
    }
    spans.extend(doc.index.uses(def).iter().map(|u| u.span));
    spans
        .into_iter()
        .map(|s| Location::new(uri.clone(), doc.range(s)))
        .collect()
}

/// Blocks (with their lines inside) and the model's lines, in order.
pub fn symbols(doc: &Document) -> Vec<DocumentSymbol> {
    let mut top: Vec<DocumentSymbol> = Vec::new();
    let mut blocks: Vec<(usize, DocumentSymbol)> = Vec::new();
    for (b, block) in doc.index.blocks.iter().enumerate() {
        let symbol = symbol(doc, &block.signature, Kind::FUNCTION, block.span(), block.header);
        blocks.push((b, symbol));
    }
    for entry in &doc.index.entries {
        let kind = match (&entry.label, entry.is_param) {
            (Some(_), _) => Kind::VARIABLE,
            (None, true) => Kind::CONSTANT,
            (None, false) => Kind::OBJECT,
        };
        let s = symbol(doc, &entry.text, kind, entry.span, entry.span);
        match entry.scope {
            Some(b) => blocks[b].1.children.get_or_insert_with(Vec::new).push(s),
            None => top.push(s),
        }
    }
    top.extend(blocks.into_iter().map(|(_, s)| s));
    top.sort_by_key(|s| (s.range.start.line, s.range.start.character));
    top
}

#[allow(deprecated)] // `deprecated` is a required field of the struct
fn symbol(
    doc: &Document,
    name: &str,
    kind: Kind,
    span: crate::diagnostic::Span,
    selection: crate::diagnostic::Span,
) -> DocumentSymbol {
    DocumentSymbol {
        name: if name.is_empty() {
            "?".into()
        } else {
            name.to_string()
        },
        detail: None,
        kind,
        tags: None,
        deprecated: None,
        range: doc.range(span),
        selection_range: doc.range(selection),
        children: None,
    }
}

/// Each line that makes layers gets its output shape at its end; a line
/// inside a block, the shapes it makes at its uses.
pub fn inlay_hints(doc: &Document) -> Vec<InlayHint> {
    let Some(model) = &doc.model else {
        return Vec::new();
    };
    let mut lines: Vec<usize> = model
        .layers
        .iter()
        .flat_map(|l| [doc.line_of(l.site.start), doc.line_of(l.span.start)])
        .collect();
    lines.sort_unstable();
    lines.dedup();
    let mut hints = Vec::new();
    for line in lines {
        let (layers, _) = layers_of_line(model, doc, line);
        let mut shapes: Vec<String> = Vec::new();
        for &i in &layers {
            let s = model.layers[i].output.to_string();
            if shapes.last() != Some(&s) {
                shapes.push(s);
            }
        }
        if shapes.is_empty() {
            continue;
        }
        if shapes.len() > 4 {
            shapes.drain(2..shapes.len() - 1);
            shapes.insert(2, "…".into());
        }
        let end = doc.line_span(line).end;
        let Position { line: l, character } = doc.position(end);
        hints.push(InlayHint {
            position: Position::new(l, character),
            label: InlayHintLabel::String(format!("→ {}", shapes.join(" | "))),
            kind: Some(InlayHintKind::TYPE),
            text_edits: None,
            tooltip: None,
            padding_left: Some(true),
            padding_right: None,
            data: None,
        });
    }
    hints
}
