//! Completion from the words before the cursor on its statement: a
//! statement's first word (keywords, layer kinds, activations, blocks),
//! a layer's options not yet given, names after `from`/`add`/`concat`,
//! and `param`s (with a block's own parameters inside it) where a count
//! goes.

use lsp_types::{CompletionItem, CompletionItemKind};

use super::document::Document;
use super::index::SymbolKind;
use crate::syntax::Activation;

const STATEMENTS: &[&str] = &["model", "input", "param", "block", "end", "repeat"];
const LAYERS: &[&str] = &[
    "conv",
    "pool",
    "dense",
    "flatten",
    "dropout",
    "batchnorm",
    "add",
    "concat",
    "globalpool",
];

pub fn complete(doc: &Document, offset: usize) -> Vec<CompletionItem> {
    let line = doc.line_span(doc.line_of(offset));
    let before = doc.text.get(line.start..offset.max(line.start)).unwrap_or("");
    if before.contains('#') {
        return Vec::new();
    }
    let statement = before.rsplit(';').next().unwrap_or("");
    let mut words: Vec<&str> = statement.split_whitespace().collect();
    // The word being typed is replaced by the completion: drop it.
    if !statement.ends_with(char::is_whitespace) && !statement.ends_with('(') {
        words.pop();
    }
    // A label (`skip:`) or `repeat N` leaves a layer to write.
    if words.first().is_some_and(|w| w.ends_with(':')) {
        words.remove(0);
    }
    if words.first() == Some(&"repeat") && words.len() >= 2 {
        words.drain(..2);
    }
    let mut out = Vec::new();
    let Some(&first) = words.first() else {
        first_words(doc, &mut out);
        return out;
    };
    let last = *words.last().unwrap_or(&first);
    if statement.contains('(') && !statement.contains(')') || last == "=" || last == "repeat" {
        params_in_scope(doc, offset, &mut out);
        return out;
    }
    if matches!(last, "from" | "add" | "concat") || matches!(first, "add" | "concat") {
        names_in_scope(doc, offset, &mut out);
        return out;
    }
    let given = |w: &str| words.contains(&w);
    let has_activation = Activation::ALL.iter().any(|a| given(a.keyword()));
    let options: Vec<&str> = match first {
        "conv" if words.len() == 1 => return params_with(doc, offset, out),
        "dense" if words.len() == 1 => return params_with(doc, offset, out),
        "conv" => vec!["stride", "same", "valid", "l2", "groups", "from"],
        "pool" if words.len() == 1 => vec!["max", "avg"],
        "pool" => vec!["stride", "from"],
        "dense" => vec!["l2", "from"],
        "globalpool" => vec!["avg", "max", "from"],
        "flatten" | "batchnorm" | "dropout" => vec!["from"],
        _ => Vec::new(),
    };
    let padding_given = given("same") || given("valid");
    for option in options {
        let taken = given(option) || (padding_given && matches!(option, "same" | "valid"));
        if !taken {
            out.push(item(option, CompletionItemKind::KEYWORD, "option"));
        }
    }
    if matches!(first, "conv" | "dense") && !has_activation {
        for a in Activation::ALL {
            out.push(item(a.keyword(), CompletionItemKind::ENUM_MEMBER, "activation"));
        }
    }
    out
}

fn params_with(doc: &Document, offset: usize, mut out: Vec<CompletionItem>) -> Vec<CompletionItem> {
    params_in_scope(doc, offset, &mut out);
    out
}

fn first_words(doc: &Document, out: &mut Vec<CompletionItem>) {
    for k in STATEMENTS {
        out.push(item(k, CompletionItemKind::KEYWORD, "statement"));
    }
    for k in LAYERS {
        out.push(item(k, CompletionItemKind::KEYWORD, "layer"));
    }
    for a in Activation::ALL {
        out.push(item(
            a.keyword(),
            CompletionItemKind::ENUM_MEMBER,
            "activation layer",
        ));
    }
    for b in &doc.index.blocks {
        out.push(item(&b.name, CompletionItemKind::FUNCTION, &b.signature));
    }
}

fn params_in_scope(doc: &Document, offset: usize, out: &mut Vec<CompletionItem>) {
    let scope = doc.index.block_at(offset);
    for d in &doc.index.definitions {
        if d.kind == SymbolKind::Param && (d.scope.is_none() || d.scope == scope) {
            out.push(item(&d.name, CompletionItemKind::CONSTANT, "param"));
        }
    }
}

fn names_in_scope(doc: &Document, offset: usize, out: &mut Vec<CompletionItem>) {
    let scope = doc.index.block_at(offset);
    for d in &doc.index.definitions {
        if d.kind == SymbolKind::Name && d.scope == scope && d.span.end <= offset {
            out.push(item(&d.name, CompletionItemKind::VARIABLE, "named output"));
        }
    }
    if scope.is_some() {
        out.push(item("in", CompletionItemKind::VARIABLE, "the block's input"));
    }
}

fn item(label: &str, kind: CompletionItemKind, detail: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        ..CompletionItem::default()
    }
}
