//! Completion from the words before the cursor on its statement: a
//! statement's first word (keywords, layer kinds, activations, blocks),
//! a layer's options not yet given, names after `from`/`add`/`concat`,
//! and `param`s (with a block's own parameters inside it) wherever a size
//! or count goes (filters, units, kernel and pool window, stride, groups,
//! `repeat`, a block's arguments).

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
    let has_activation = Activation::all().any(|a| given(a.keyword()));
    // Every size of a layer is an expression: `param`s go there too.
    let pool_window_next =
        first == "pool" && (words.len() == 1 || words.len() == 2 && matches!(words[1], "max" | "avg"));
    if matches!(last, "stride" | "groups") || pool_window_next && words.len() == 2 {
        return params_with(doc, offset, out);
    }
    let options: Vec<&str> = match first {
        "conv" | "dense" if words.len() == 1 => return params_with(doc, offset, out),
        "conv" if words.len() == 2 => return params_with(doc, offset, out),
        "conv" => vec!["stride", "same", "valid", "l2", "groups", "from"],
        "pool" if words.len() == 1 => {
            params_in_scope(doc, offset, &mut out);
            vec!["max", "avg"]
        }
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
        for a in Activation::all() {
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
    /// rule: the lists above and the editors' highlighting are written by
    /// hand, so they are held to it.
    fn grammar_keywords() -> Vec<&'static str> {
        let grammar = include_str!("../../grammar/cnn.pest");
        let rule = grammar
            .split("\nactivation = @{")
            .nth(1)
            .expect("an activation rule");
        let activations = rule[..rule.find('}').unwrap()].split('"').skip(1).step_by(2);
        let keywords = grammar.lines().filter(|l| l.starts_with("kw_"));
        keywords
            .filter_map(|l| l.split('"').nth(1))
            .chain(activations)
            .collect()
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
