//! Completion from the words before the cursor on its statement: a
//! statement's first word (keywords, layer kinds, activations, blocks),
//! a layer's options not yet given, names after `from`/`add`/`concat`,
//! and `param`s (with a block's own parameters inside it) wherever a size
//! or count goes (filters, units, kernel and pool window, stride, groups,
//! `repeat`, a block's arguments).

use lsp_types::{CompletionItem, CompletionItemKind};

use super::document::Document;
use super::index::SymbolKind;
use crate::kinds::SIGNATURES;
use crate::syntax::Activation;
use crate::syntax::signature::{Form, Signature, Value};

const STATEMENTS: &[&str] = &["model", "input", "param", "block", "end", "repeat"];

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
    if last == "from" {
        names_in_scope(doc, offset, &mut out);
        return out;
    }
    let Some(signature) = SIGNATURES.iter().find(|s| s.starts_with(first)) else {
        return out;
    };
    layer_words(signature, &words[1..], doc, offset, &mut out);
    out
}

/// What may follow `written`, the words after a layer's keyword: the
/// argument due (`param`s where a size or count goes, its words where it
/// is a choice, names where it reads tensors), else the options not yet
/// given, `from`, and the activations where the kind takes one.
fn layer_words(
    signature: &Signature,
    written: &[&str],
    doc: &Document,
    offset: usize,
    out: &mut Vec<CompletionItem>,
) {
    let mut rest = written;
    let mut choices: Vec<&str> = Vec::new();
    for argument in signature.arguments {
        match (argument.value, rest.first()) {
            (Value::Names, _) => return names_in_scope(doc, offset, out),
            (Value::Choice(words), Some(w)) if argument.optional && !words.contains(w) => {}
            (_, Some(_)) => rest = &rest[1..],
            (value, None) => {
                if let Value::Choice(words) = value {
                    choices.extend(words);
                }
                if matches!(value, Value::Count | Value::Size) {
                    params_in_scope(doc, offset, out);
                }
                if !argument.optional {
                    // An argument is due: nothing else goes here.
                    out.extend(
                        choices
                            .iter()
                            .map(|c| item(c, CompletionItemKind::KEYWORD, "option")),
                    );
                    return;
                }
            }
        }
    }
    let last = rest.last().copied().unwrap_or_default();
    if let Some(o) = signature.options.iter().find(|o| o.name == last) {
        if matches!(o.form, Form::Valued(Value::Count | Value::Size)) {
            params_in_scope(doc, offset, out);
        }
        return;
    }
    let given = |w: &str| rest.contains(&w);
    out.extend(
        choices
            .iter()
            .map(|c| item(c, CompletionItemKind::KEYWORD, "option")),
    );
    for option in signature.options {
        match option.form {
            Form::Valued(_) if !given(option.name) => {
                out.push(item(option.name, CompletionItemKind::KEYWORD, "option"));
            }
            Form::Flag(flags) if !flags.iter().any(|f| given(f)) => {
                out.extend(
                    flags
                        .iter()
                        .map(|f| item(f, CompletionItemKind::KEYWORD, "option")),
                );
            }
            _ => {}
        }
    }
    out.push(item("from", CompletionItemKind::KEYWORD, "option"));
    let has_activation = Activation::all().any(|a| given(a.keyword()));
    if signature.takes_activation() && !has_activation {
        for a in Activation::all() {
            out.push(item(a.keyword(), CompletionItemKind::ENUM_MEMBER, "activation"));
        }
    }
}

fn first_words(doc: &Document, out: &mut Vec<CompletionItem>) {
    for k in STATEMENTS {
        out.push(item(k, CompletionItemKind::KEYWORD, "statement"));
    }
    for k in SIGNATURES.iter().filter_map(|s| s.word()) {
        out.push(item(k, CompletionItemKind::KEYWORD, "layer"));
    }
    for a in Activation::all() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckOptions;

    /// The labels offered where `|` stands.
    fn offered(text: &str) -> Vec<String> {
        let at = text.find('|').unwrap();
        let doc = Document::new(text.replacen('|', "", 1), &CheckOptions::default());
        complete(&doc, at).into_iter().map(|i| i.label).collect()
    }

    #[test]
    fn options_not_yet_given() {
        let after_conv = offered("conv 8 3x3 stride 2 relu |");
        assert_eq!(after_conv, vec!["same", "valid", "l2", "groups", "from"]);
        assert_eq!(offered("dense 10 softmax l|"), vec!["l2", "from"]);
    }

    /// Where a number is due (a dropout rate, an `l2` factor) no word fits,
    /// so nothing is offered; once it is written, the rest is.
    #[test]
    fn nothing_where_a_number_is_due() {
        assert!(offered("dropout |").is_empty());
        assert!(offered("dense 10 l2 |").is_empty());
        assert_eq!(offered("dropout 0.5 |"), vec!["from"]);
        assert_eq!(
            offered("dense 10 l2 1e-4 |").first().map(String::as_str),
            Some("from")
        );
    }

    #[test]
    fn names_and_params_in_their_scope() {
        let text = "param w = 4\nblock b(f)\n  x: conv f 1x1\n  add |\nend\ny: conv w 1x1\n";
        assert_eq!(offered(text), vec!["x", "in"]);
        let text = "param w = 4\nblock b(f)\n  conv |\nend\n";
        assert_eq!(offered(text), vec!["w", "f"]);
        assert_eq!(offered("param w = 4\nblock b(f)\nend\nb(|"), vec!["w"]);
    }

    #[test]
    fn params_wherever_a_size_goes() {
        let text = "param k = 3\nblock b(s)\n  conv 8 k stride |";
        assert_eq!(offered(text), vec!["k", "s"]);
        assert_eq!(offered("param k = 3\nconv 8 |"), vec!["k"]);
        assert_eq!(offered("param k = 3\nconv 8 k groups |"), vec!["k"]);
        assert_eq!(offered("param k = 3\npool avg |"), vec!["k"]);
        assert_eq!(offered("param k = 3\npool |"), vec!["k", "max", "avg"]);
        assert_eq!(offered("param k = 3\npool k stride |"), vec!["k"]);
        assert_eq!(offered("param k = 3\npad |"), vec!["k"]);
        assert_eq!(offered("pad 1 |"), vec!["from"]);
    }

    #[test]
    fn nothing_in_a_comment_and_first_words_at_a_start() {
        assert_eq!(offered("conv 8 3x3 # |"), Vec::<String>::new());
        let first = offered("block b()\nend\nx: |");
        assert!(
            first.contains(&"conv".to_string()) && first.contains(&"b".to_string()),
            "{first:?}"
        );
    }

    /// The words of `kw_*` rules in the grammar and of its `activation`
    /// and `kind_word` rules: the editors' highlighting is written by hand,
    /// so it is held to them.
    fn grammar_keywords() -> Vec<&'static str> {
        let grammar = include_str!("../../grammar/cnn.pest");
        let words_of = |name: &str| {
            let rule = grammar
                .split(&format!("\n{name} = @{{"))
                .nth(1)
                .unwrap_or_else(|| panic!("a {name} rule"));
            rule[..rule.find('}').unwrap()].split('"').skip(1).step_by(2)
        };
        let keywords = grammar.lines().filter(|l| l.starts_with("kw_"));
        keywords
            .filter_map(|l| l.split('"').nth(1))
            .chain(words_of("activation"))
            .chain(words_of("kind_word"))
            .collect()
    }

    #[test]
    fn every_kind_keyword_is_a_keyword_of_the_grammar() {
        let keywords = grammar_keywords();
        for word in SIGNATURES.iter().filter_map(|s| s.word()) {
            assert!(keywords.contains(&word), "the grammar lacks `{word}`");
        }
    }

    #[test]
    fn every_keyword_of_the_grammar_is_offered_and_highlighted() {
        let keywords = grammar_keywords();
        assert!(keywords.len() >= 30, "{keywords:?}");
        let mut offered_anywhere: Vec<String> = Vec::new();
        for text in ["|", "conv 8 3x3 |", "pool |", "block b(f)\n  add |\nend\n"] {
            offered_anywhere.extend(offered(text));
        }
        let highlighting = include_str!("../../editors/vscode/syntaxes/cnn.tmLanguage.json");
        for keyword in keywords {
            // An activation's other spelling (`swish`) is not offered.
            let alias = Activation::named(keyword).is_some_and(|a| a.keyword() != keyword);
            assert!(
                alias || offered_anywhere.iter().any(|o| o == keyword),
                "completion never offers `{keyword}`: {offered_anywhere:?}"
            );
            // An alternative of one of its `\\b(a|b|c)\\b` patterns.
            let alternative = ["(", "|"]
                .iter()
                .flat_map(|before| [")", "|"].map(|after| format!("{before}{keyword}{after}")))
                .any(|a| highlighting.contains(&a));
            assert!(alternative, "editors/vscode's grammar lacks `{keyword}`");
        }
    }
}
