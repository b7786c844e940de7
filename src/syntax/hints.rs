//! Bad lines about names and blocks, explained before pest's own account
//! (which would say "expected something else" or "could not be read"):
//! a keyword or `in` as a layer's name, two names on one layer, a keyword
//! or a number where a block header wants a name, a `repeat` with nothing
//! to repeat.

use crate::diagnostic::{Diagnostic, Span};

/// Words a name cannot be: `in` and the language's keywords.
fn reserved(word: &str) -> bool {
    word == "in" || super::errors::is_keyword(word)
}

/// `in: conv …`, `conv: relu`, `x: y: relu`: the label of a line whose
/// layer starts at `colon` (just past the `:`).
pub(super) fn bad_label(text: &str, colon: usize, offset: usize) -> Option<Diagnostic> {
    let lead = text.len() - text.trim_start().len();
    let word = text[lead..colon - 1].trim_end();
    let span = Span::new(offset + lead, offset + lead + word.len());
    if word == "in" {
        return Some(
            Diagnostic::error("`in` cannot name a layer's output")
                .label(span, "`in` is the tensor a block is used on")
                .help("choose another name, such as `x: …`; inside a block, `in` already names its input"),
        );
    }
    if reserved(word) {
        return Some(
            Diagnostic::error(format!("`{word}` is a keyword and cannot name a layer's output"))
                .label(span, "a keyword")
                .help(format!("choose another name, such as `{word}1: …`")),
        );
    }
    let rest = &text[colon..];
    let second = super::errors::label_end(rest)?;
    let inner = rest.trim_start();
    let start = colon + (rest.len() - inner.len());
    let second_word = text[start..colon + second - 1].trim_end();
    Some(
        Diagnostic::error("a layer takes one name")
            .label(
                Span::new(offset + start, offset + start + second_word.len()),
                "a second name",
            )
            .label(span, "the first")
            .help(format!(
                "keep one of them: `{word}: …`; several layers may read one named output"
            )),
    )
}

/// `block conv(n)`, `block b(1)`, `block b(stride)`: a keyword or a
/// number where a block header wants a name.
pub(super) fn block_header(text: &str, offset: usize) -> Option<Diagnostic> {
    let after = text.find("block")? + "block".len();
    let name_start = after + (text[after..].len() - text[after..].trim_start().len());
    let name_end = name_start
        + text[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len() - name_start);
    let name = &text[name_start..name_end];
    if reserved(name) {
        return Some(
            Diagnostic::error(format!("`{name}` is a keyword and cannot name a block"))
                .label(Span::new(offset + name_start, offset + name_end), "a keyword")
                .help(format!("choose another name, such as `block {name}_block(…)`")),
        );
    }
    let open = name_end + text[name_end..].find('(')?;
    let close = open + text[open..].find(')').unwrap_or(text.len() - open);
    let mut at = open + 1;
    for part in text[open + 1..close].split(',') {
        let param = part.split('=').next().unwrap_or("");
        let start = at + (param.len() - param.trim_start().len());
        let word = param.trim();
        at += part.len() + 1;
        let span = Span::new(offset + start, offset + start + word.len());
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(
                Diagnostic::error("a block's parameters are names, not values")
                    .label(span, "a value")
                    .help(format!(
                        "name the parameter (`block {name}(n)`) and give its value where the block is used: `{name}({word})`; a default comes after `=`: `block {name}(n = {word})`"
                    )),
            );
        }
        if reserved(word) {
            return Some(
                Diagnostic::error(format!(
                    "`{word}` is a keyword and cannot name a block's parameter"
                ))
                .label(span, "a keyword")
                .help(format!("choose another name, such as `{}`", &word[..1])),
            );
        }
    }
    None
}

/// `repeat 2` with nothing after its count.
pub(super) fn repeat_without_layer(text: &str, offset: usize) -> Option<Diagnostic> {
    let trimmed = text.trim();
    let count = trimmed.strip_prefix("repeat")?.trim();
    if count.is_empty() || count.contains(char::is_whitespace) {
        return None;
    }
    let start = text.find(count)?;
    Some(
        Diagnostic::error("`repeat` needs a layer to repeat after its count")
            .label(Span::new(offset + start, offset + start + count.len()), "the count, with no layer after it")
            .help(format!(
                "write the layer or the block's use on the same line: `repeat {count} conv 32 3x3 same relu` or `repeat {count} basic(32)`"
            )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_names() {
        let d = bad_label("in: conv 4 1x1", 3, 0).unwrap();
        assert_eq!(d.labels[0].0, Span::new(0, 2));
        let d = bad_label("x: y: relu", 2, 10).unwrap();
        assert_eq!(d.message, "a layer takes one name");
        assert_eq!(d.labels[0].0, Span::new(13, 14));
        assert!(bad_label("x: relu", 2, 0).is_none());
        let d = block_header("block b(n, 1)", 0).unwrap();
        assert_eq!(d.labels[0].0, Span::new(11, 12));
        let d = block_header("block conv(n)", 0).unwrap();
        assert_eq!(d.labels[0].0, Span::new(6, 10));
        assert!(block_header("block b(n, m = n*2)", 0).is_none());
        assert!(repeat_without_layer("repeat 2", 0).is_some());
        assert!(repeat_without_layer("repeat 2 conv", 0).is_none());
    }
}
