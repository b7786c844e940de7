//! Why a line is not a statement, said in the language's own words.
//!
//! pest reports the grammar rules it tried at the furthest position; this
//! module turns them into "expected a kernel size like `3x3`, found `x3`",
//! adds "did you mean" for misspelt keywords and the statement's usage.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};

use super::{CnnParser, Layers, Rule, hints};
use crate::activation::Activation;
use crate::diagnostic::{Diagnostic, Span, closest};

/// A statement's keyword, its usage line, and words users coming from
/// other tools type for it.
type Usage = (&'static str, &'static str, &'static [&'static str]);

/// The statements that are not layers, before the layers (whose usage
/// their kinds' signatures give) and after them.
const BEFORE_LAYERS: &[Usage] = &[
    ("model", "model NAME", &[]),
    ("input", "input HxWxC, for example `input 28x28x1`", &["shape"]),
    (
        "param",
        "param NAME = VALUE, for example `param width = 32`",
        &["let", "set", "var"],
    ),
];
const AFTER_LAYERS: &[Usage] = &[
    (
        "block",
        "block NAME(PARAMS) … end, for example `block basic(filters, stride = 1)`",
        &["def", "function", "module"],
    ),
    ("end", "end (closes a block)", &[]),
    (
        "repeat",
        "repeat N LAYER, for example `repeat 3 basic(16)`",
        &["times", "loop"],
    ),
];

/// Every statement's usage, in the order above, the layers in the
/// registry's order (an activation alone on a line aside: its words are
/// the activations').
fn statements(layers: &Layers) -> Vec<Usage> {
    let own = layers
        .iter()
        .filter_map(|s| s.word().map(|w| (w, s.usage, s.aliases)));
    BEFORE_LAYERS
        .iter()
        .copied()
        .chain(own)
        .chain(AFTER_LAYERS.iter().copied())
        .collect()
}

fn names_an_activation(word: &str) -> bool {
    Activation::named(word).is_some()
}

/// Explains why `text`, a whole line starting at byte `offset` of the file,
/// is not a statement.
pub(super) fn explain_bad_line(text: &str, offset: usize, layers: &Layers) -> Diagnostic {
    // A named layer (`skip: conv …`) is explained as its layer, unless
    // the name itself is what is wrong.
    if let Some(colon) = label_end(text) {
        if let Some(d) = hints::bad_label(text, colon, offset) {
            return d;
        }
        return explain_bad_line(&text[colon..], offset + colon, layers);
    }
    let first = first_word(text);
    let first_span = Span::new(offset + first.0, offset + first.0 + first.1.len());
    let statements = statements(layers);
    let statement = statements.iter().find(|(kw, _, _)| *kw == first.1);
    let is_activation = names_an_activation(first.1);
    // `NAME(…)`: a block's use, whatever its name.
    let is_use = statement.is_none()
        && !is_activation
        && text[first.0 + first.1.len()..].trim_start().starts_with('(');

    if statement.is_none() && !is_activation && !is_use {
        return unknown_statement(first.1, first_span, &statements);
    }
    let special = match first.1 {
        "block" => hints::block_header(text, offset),
        "repeat" => hints::repeat_without_layer(text, offset),
        _ => None,
    };
    if let Some(d) = special {
        return d;
    }

    if let Some(d) = conv_without_filters(text, first.0 + first.1.len(), offset, first.1) {
        return d;
    }

    let error = match CnnParser::parse(Rule::single_statement, text) {
        Ok(_) => {
            // The grammar accepts the line alone but not in its place; this
            // should not happen, and is still not worth a panic.
            return Diagnostic::error("this statement could not be read")
                .label(Span::new(offset, offset + text.trim_end().len()), "here");
        }
        Err(e) => e,
    };
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((p, _)) => p,
    };
    let positives = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };

    let statement_name = statement.map_or(first.1, |s| s.0);
    let usage = match statement {
        Some(s) => s.1,
        None if is_use => {
            "NAME(ARGS), a block's use: each argument an expression over `param`s, for example `basic(32)`"
        }
        None => layers
            .iter()
            .find(|s| s.starts_with(first.1))
            .map_or("", |s| s.usage),
    };
    let at = Span::new(offset + pos, offset + pos);
    failure(text, at, pos, &positives, statement_name).note(format!("usage: {usage}"))
}

/// What the grammar wanted at byte `pos` of `text` (at `at` in the file),
/// in a `statement` line: what was found there, what was expected, and a
/// "did you mean" for a misspelt keyword.
fn failure(text: &str, at: Span, pos: usize, positives: &[Rule], statement: &str) -> Diagnostic {
    let (found, found_len) = token_at(text, pos);
    let span = Span::new(at.start, at.start + found_len);
    let expected = describe(positives, statement);

    // A misspelt keyword: suggest the closest one the grammar accepts here.
    let candidates = keywords_for(positives);
    let suggestion = if found_len > 0 && found.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        closest(found, candidates.iter().copied())
    } else {
        None
    };

    let title = match suggestion {
        Some(s) if names_an_activation(s) => format!("unknown activation `{found}`"),
        _ if found_len == 0 => {
            format!("`{statement}` statement ends too early: expected {expected}")
        }
        _ => format!("expected {expected}, found `{found}`"),
    };
    let label = if found_len == 0 {
        format!("expected {expected} here")
    } else if suggestion.is_some() {
        "not recognised here".to_string()
    } else {
        format!("expected {expected}")
    };
    let d = Diagnostic::error(title).label(span, label);
    match suggestion {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => with_help(d, found, positives, statement),
    }
}

/// The advice for what was `found` where the grammar wanted `positives`.
fn with_help(d: Diagnostic, found: &str, positives: &[Rule], statement: &str) -> Diagnostic {
    let wants_a_value = positives
        .iter()
        .any(|r| matches!(r, Rule::expr | Rule::term | Rule::int));
    if statement == "param" && positives.is_empty() {
        d.help("a parameter is declared as `param NAME = VALUE`")
    } else if positives.contains(&Rule::ident) && is_keyword(found) {
        d.help(format!(
            "`{found}` is a keyword of the language; choose another name"
        ))
    } else if is_keyword(found) && wants_a_value {
        d.help(format!(
            "`{found}` is a keyword of the language, not a parameter; a parameter needs another name"
        ))
    } else if positives.contains(&Rule::name_ref) {
        d.help("name a layer's output first (`skip: conv 8 3x3`), then read it by that name (`add skip`, `from skip`); in a block, `in` is its input")
    } else {
        d
    }
}

/// `conv 3x3 relu`: the filter count is missing, and pest alone would say
/// "expected an operator" at the `x`.
fn conv_without_filters(
    text: &str,
    after_keyword: usize,
    offset: usize,
    keyword: &str,
) -> Option<Diagnostic> {
    if keyword != "conv" {
        return None;
    }
    let rest = &text[after_keyword..];
    let start = after_keyword + (rest.len() - rest.trim_start().len());
    let word: &str = text[start..]
        .split(|c: char| c.is_whitespace() || c == '#')
        .next()?;
    let is_window = word.contains('x')
        && word
            .split('x')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    is_window.then(|| {
        Diagnostic::error("`conv` needs a filter count before its kernel size")
            .label(
                Span::new(offset + start, offset + start + word.len()),
                "this is the kernel size",
            )
            .help(format!("for 32 filters of {word}, write `conv 32 {word}`"))
    })
}

fn unknown_statement(word: &str, span: Span, statements: &[Usage]) -> Diagnostic {
    let suggestion = statements
        .iter()
        .find(|(_, _, aliases)| aliases.contains(&word.to_ascii_lowercase().as_str()))
        .map(|(kw, _, _)| *kw)
        .or_else(|| closest(word, statements.iter().map(|s| s.0).chain(Activation::words())));
    let title = if word.is_empty() {
        "expected a statement".to_string()
    } else if word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        format!("a line cannot start with a number (`{word}`)")
    } else {
        format!("unknown layer `{word}`")
    };
    let mut d = Diagnostic::error(title).label(span, "not a statement of the language");
    if let Some(s) = suggestion {
        d = d.help(format!("did you mean `{s}`?"));
    }
    // The specials (linear, softmax) last, as the README lists them.
    let (specials, others): (Vec<Activation>, Vec<Activation>) =
        Activation::all().partition(|&a| a == Activation::LINEAR || a == Activation::SOFTMAX);
    let activations: Vec<String> = others
        .iter()
        .chain(specials.iter().rev())
        .map(|a| format!("`{a}`"))
        .collect();
    let layers: Vec<String> = statements
        .iter()
        .filter(|s| !BEFORE_LAYERS.contains(s) && !AFTER_LAYERS.contains(s))
        .map(|s| format!("`{}`", s.0))
        .collect();
    d.note(format!("statements are `model`, `input`, `param`, the layers {}, the activations {}, and `block NAME(…)` … `end`, its uses `NAME(…)` and `repeat N`", layers.join(", "), activations.join(", ")))
}

/// The first word of a line and its byte offset in it.
fn first_word(text: &str) -> (usize, &str) {
    let start = text.len() - text.trim_start().len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    // A line starting with punctuation: take that one character.
    let end = if end == 0 {
        rest.chars().next().map_or(0, char::len_utf8)
    } else {
        end
    };
    (start, &rest[..end])
}

/// The token at `pos`: a word, a number, or one other character; empty at
/// the end of the line or at a comment.
fn token_at(text: &str, pos: usize) -> (&str, usize) {
    let rest = &text[pos.min(text.len())..];
    if rest.is_empty() || rest.starts_with('#') || rest.trim().is_empty() {
        return ("", 0);
    }
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '#' || c == ';')
        .unwrap_or(rest.len());
    let word_end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let end = if word_end == 0 {
        rest.chars().next().map_or(0, char::len_utf8)
    } else {
        word_end.min(end)
    };
    (&rest[..end], end)
}

/// What pest expected, in words, without repeats, in grammar order.
fn describe(positives: &[Rule], statement: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for rule in positives {
        let part = match rule {
            Rule::dims => "a shape like `28x28x1`",
            Rule::window if statement == "pool" => "a pool size like `2` or `2x2`",
            Rule::window => "a kernel size like `3x3`",
            Rule::expr | Rule::term | Rule::int if statement == "stride" => "a number",
            Rule::expr | Rule::term | Rule::int | Rule::ident if statement != "param" => {
                "a count (a number or a parameter)"
            }
            Rule::ident => "a parameter name",
            Rule::expr | Rule::term | Rule::int => "a value (a number or an expression)",
            Rule::add_op | Rule::mul_op => "an operator (`+ - * /`)",
            Rule::number => "a number",
            Rule::name_ref | Rule::kw_in => "the name of a layer's output",
            Rule::model_name => "a model name",
            Rule::stride | Rule::kw_stride => "`stride`",
            Rule::padding | Rule::kw_same | Rule::kw_valid => "padding (`same` or `valid`)",
            Rule::l2 | Rule::kw_l2 => "`l2`",
            Rule::groups | Rule::kw_groups => "`groups`",
            Rule::pool_kind | Rule::kw_max | Rule::kw_avg => "`max` or `avg`",
            Rule::activation => "an activation",
            Rule::EOI => "the end of the statement",
            _ => continue,
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    // "the end of the statement" reads best last.
    if let Some(i) = parts.iter().position(|p| *p == "the end of the statement") {
        let end = parts.remove(i);
        parts.push(end);
    }
    match parts.len() {
        0 => "something else".to_string(),
        1 => parts[0].to_string(),
        n => format!("{} or {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

/// Keywords the grammar would have accepted where it stopped.
fn keywords_for(positives: &[Rule]) -> Vec<&'static str> {
    let mut words = Vec::new();
    for rule in positives {
        match rule {
            Rule::stride | Rule::kw_stride => words.push("stride"),
            Rule::padding | Rule::kw_same | Rule::kw_valid => words.extend(["same", "valid"]),
            Rule::l2 | Rule::kw_l2 => words.push("l2"),
            Rule::groups | Rule::kw_groups => words.push("groups"),
            Rule::pool_kind | Rule::kw_max | Rule::kw_avg => words.extend(["max", "avg"]),
            Rule::activation => words.extend(Activation::words()),
            _ => {}
        }
    }
    words.sort_unstable();
    words.dedup();
    words
}

/// Whether `word` is a keyword of the grammar (a statement's, an
/// option's, an activation's): a word that is not a name.
pub(super) fn is_keyword(word: &str) -> bool {
    let is_word = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    is_word && CnnParser::parse(Rule::ident, word).map_or(true, |p| p.as_str() != word)
}

/// Where the layer starts after a leading `name:`, if the line has one.
pub(super) fn label_end(text: &str) -> Option<usize> {
    let trimmed = text.trim_start();
    let lead = text.len() - trimmed.len();
    let word = trimmed.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let rest = &trimmed[word..];
    let after = rest.trim_start();
    (word > 0 && after.starts_with(':')).then(|| lead + word + (rest.len() - after.len()) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_at_stops_at_word_end() {
        assert_eq!(token_at("conv 32 x3", 8), ("x3", 2));
        assert_eq!(token_at("conv 32 # c", 8), ("", 0));
        assert_eq!(token_at("conv 32 (", 8), ("(", 1));
    }
}
