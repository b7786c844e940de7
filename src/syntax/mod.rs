//! Source text to [`Program`]: the pest grammar in `grammar/cnn.pest`, and
//! one `parse_<rule>` function per grammar rule that turns pest's pairs into
//! the syntax tree. Nothing outside this module sees pest.

pub mod ast;
mod errors;
mod graph;
mod hints;
pub mod signature;

use pest::Parser as _;
use pest::iterators::Pair;

use crate::diagnostic::{Diagnostic, Diagnostics, Span, Spanned};
pub use ast::*;
pub use graph::Line;
pub use signature::{Arg, Signature};

/// The layer kinds' signatures, which the parser reads layer statements
/// with (`kinds::SIGNATURES`).
pub type Layers = [&'static Signature];

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/cnn.pest"]
struct CnnParser;

/// Deeper parenthesis nesting than this is refused before pest sees it, so
/// no input can overflow the stack of the parser or of the checker.
const MAX_NESTING: usize = 32;
/// Longest expression, in operands: also bounds the depth of the tree.
const MAX_OPERANDS: usize = 256;

/// Parses a whole `.cnn` file, reporting every statement that does not
/// parse, not only the first; `layers` are the kinds' signatures.
pub fn parse(source: &str, layers: &Layers) -> Result<Program, Diagnostics> {
    if let Some(d) = too_deep(source) {
        return Err(Diagnostics(vec![d]));
    }
    let program = CnnParser::parse(Rule::program, source)
        .expect("`program` accepts any text: bad lines become `bad_line`")
        .next()
        .expect("`program` yields one pair");

    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for pair in program.into_inner() {
        match pair.as_rule() {
            Rule::EOI => {}
            Rule::bad_line => {
                errors.push(errors::explain_bad_line(
                    pair.as_str(),
                    pair.as_span().start(),
                    layers,
                ));
                // A block header that does not parse still opens a block,
                // so that its `end` is not reported as well.
                if pair.as_str().trim_start().starts_with("block ") {
                    lines.push(Line::BlockStart(Spanned::new(
                        Block::opened_at(span_of(&pair)),
                        span_of(&pair),
                    )));
                }
            }
            _ => match graph::parse_line(pair, layers) {
                Ok(line) => lines.push(line),
                Err(d) => errors.push(d),
            },
        }
    }
    let statements = graph::assemble_blocks(lines, &mut errors);
    if errors.is_empty() {
        Ok(Program { statements })
    } else {
        Err(Diagnostics(errors))
    }
}

/// Parses one statement alone (no `;`, no newline, no comment), as a
/// [`Line`]: a `block` header and `end` stand alone. Spans are offsets
/// into `text`. The formatter reads a file statement by statement with it.
pub fn parse_line(text: &str, layers: &Layers) -> Result<Line, Diagnostic> {
    if let Some(d) = too_deep(text) {
        return Err(d);
    }
    match CnnParser::parse(Rule::single_statement, text) {
        Ok(mut pairs) => {
            let statement = pairs
                .next()
                .and_then(|p| p.into_inner().next())
                .expect("`single_statement` holds a statement");
            graph::parse_line(statement, layers)
        }
        Err(_) => Err(errors::explain_bad_line(text, 0, layers)),
    }
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    Span::new(pair.as_span().start(), pair.as_span().end())
}

type Parsed<T> = Result<T, Diagnostic>;

fn parse_statement(pair: Pair<'_, Rule>, layers: &Layers) -> Parsed<Spanned<Statement>> {
    let span = span_of(&pair);
    let rule = pair.as_rule();
    if let Some(statement) = graph::parse(pair.clone(), layers)? {
        return Ok(Spanned::new(statement, span));
    }
    let mut inner = pair.into_inner();
    let statement = match rule {
        Rule::model_stmt => {
            let name = inner.nth(1).expect("model name");
            Statement::Model(Spanned::new(name.as_str().to_string(), span_of(&name)))
        }
        Rule::input_stmt => Statement::Input(parse_input_dims(inner.nth(1).expect("dims"))?),
        Rule::param_stmt => {
            let name = inner.nth(1).expect("param name");
            let value = parse_expr(inner.next().expect("param value"), &mut 0)?;
            Statement::Param {
                name: Spanned::new(name.as_str().to_string(), span_of(&name)),
                value,
            }
        }
        _ => Statement::Layer(parse_layer(inner, layers)?),
    };
    Ok(Spanned::new(statement, span))
}

/// A layer statement: its keyword's signature reads the words after it.
/// The grammar has checked each word's form; the signature says what it
/// is (and refuses an option given twice).
fn parse_layer<'a>(
    mut inner: impl Iterator<Item = Pair<'a, Rule>>,
    layers: &Layers,
) -> Parsed<LayerStatement> {
    let keyword = inner.next().expect("a layer's keyword");
    let word = keyword.as_str();
    let signature = layers
        .iter()
        .find(|s| s.starts_with(word))
        .unwrap_or_else(|| unreachable!("the grammar's layer `{word}` has a signature"));
    let window_name = signature
        .arguments
        .iter()
        .find(|a| a.value == signature::Value::Size)
        .map_or("window", |a| a.name);
    let mut args = Vec::new();
    for pair in inner {
        push_args(pair, window_name, &mut args)?;
    }
    let keyword = Spanned::new(word.to_string(), span_of(&keyword));
    signature.read(keyword, args)
}

/// The words of `pair` (an argument, or an option with its value) as
/// [`Arg`]s.
fn push_args(pair: Pair<'_, Rule>, window_name: &str, args: &mut Vec<Spanned<Arg>>) -> Parsed<()> {
    let span = span_of(&pair);
    let arg = match pair.as_rule() {
        Rule::expr => {
            let e = parse_expr(pair, &mut 0)?;
            args.push(Spanned::new(Arg::Expr(e.node), e.span));
            return Ok(());
        }
        Rule::window | Rule::rect => {
            let window = parse_window(pair, window_name)?;
            args.push(Spanned::new(Arg::Window(window.node), window.span));
            return Ok(());
        }
        Rule::number | Rule::decimal => Arg::Number(parse_number(pair)?.node),
        Rule::stride | Rule::groups | Rule::l2 | Rule::padding | Rule::pool_kind => {
            for part in pair.into_inner() {
                push_args(part, window_name, args)?;
            }
            return Ok(());
        }
        _ => Arg::Word(pair.as_str().to_string()),
    };
    args.push(Spanned::new(arg, span));
    Ok(())
}

/// The sizes of a `dims` token (`28x28x1` is `[28, 28, 1]`).
fn parse_dims(pair: &Pair<'_, Rule>) -> Parsed<Vec<u64>> {
    let start = pair.as_span().start();
    let mut sizes = Vec::new();
    let mut offset = start;
    for part in pair.as_str().split('x') {
        let span = Span::new(offset, offset + part.len());
        sizes.push(int_value(part, span)?);
        offset += part.len() + 1;
    }
    Ok(sizes)
}

fn parse_input_dims(pair: Pair<'_, Rule>) -> Parsed<Spanned<[u64; 3]>> {
    let span = span_of(&pair);
    match parse_dims(&pair)?[..] {
        [h, w, c] => Ok(Spanned::new([h, w, c], span)),
        ref other => Err(Diagnostic::error(format!(
            "an input shape needs three sizes, height x width x channels; found {}",
            other.len()
        ))
        .label(span, "expected HxWxC")
        .help("for 28x28 greyscale images write `input 28x28x1`; for 32x32 colour images, `input 32x32x3`")),
    }
}

/// A kernel or pool window: one expression (square) or `H x W`, each side
/// a number, a name or a parenthesised expression.
fn parse_window(pair: Pair<'_, Rule>, what: &str) -> Parsed<Spanned<Window>> {
    // pest's span of a repetition keeps the blanks it skipped after it.
    let span = span_of(&pair);
    let span = Span::new(span.start, span.start + pair.as_str().trim_end().len());
    let sides = pair
        .into_inner()
        .map(|side| parse_operand(side, &mut 0))
        .collect::<Parsed<Vec<_>>>()?;
    let count = sides.len();
    let mut sides = sides.into_iter();
    match (sides.next(), sides.next(), count) {
        (Some(k), None, 1) => Ok(Spanned::new(Window::Square(k), span)),
        (Some(h), Some(w), 2) => Ok(Spanned::new(Window::Rect(h, w), span)),
        _ => Err(Diagnostic::error(format!(
            "a {what} has one or two sizes (`3` or `3x3`); found {count}"
        ))
        .label(span, format!("expected a {what} like `3x3`"))),
    }
}

/// Integers are at most 2^31 - 1: every size must fit the GPU's 32-bit
/// indices, and a larger literal is surely a typo.
fn int_value(text: &str, span: Span) -> Parsed<u64> {
    match text.parse::<u64>() {
        Ok(v) if v <= i32::MAX as u64 => Ok(v),
        _ => Err(Diagnostic::error(format!("integer `{text}` is too large"))
            .label(span, format!("larger than {}", i32::MAX))
            .help("sizes and counts must be below 2^31")),
    }
}

fn parse_number(pair: Pair<'_, Rule>) -> Parsed<Spanned<f64>> {
    let span = span_of(&pair);
    match pair.as_str().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Spanned::new(v, span)),
        _ => Err(
            Diagnostic::error(format!("number `{}` is out of range", pair.as_str()))
                .label(span, "not a finite number"),
        ),
    }
}

/// `expr = term (add_op term)*`; `operands` counts leaves across the whole
/// expression so that its size stays bounded.
fn parse_expr(pair: Pair<'_, Rule>, operands: &mut usize) -> Parsed<Spanned<Expr>> {
    debug_assert!(matches!(pair.as_rule(), Rule::expr | Rule::term));
    let mut inner = pair.into_inner();
    let mut lhs = parse_operand(inner.next().expect("first operand"), operands)?;
    while let Some(op) = inner.next() {
        let op = match op.as_str() {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            other => unreachable!("unexpected operator {other:?} in parse_expr"),
        };
        let rhs = parse_operand(inner.next().expect("operand after operator"), operands)?;
        let span = lhs.span.to(rhs.span);
        lhs = Spanned::new(
            Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            span,
        );
    }
    Ok(lhs)
}

fn parse_operand(pair: Pair<'_, Rule>, operands: &mut usize) -> Parsed<Spanned<Expr>> {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::expr | Rule::term => parse_expr(pair, operands),
        Rule::int | Rule::digits | Rule::ident => {
            *operands += 1;
            if *operands > MAX_OPERANDS {
                return Err(Diagnostic::error("expression is too long")
                    .label(span, format!("more than {MAX_OPERANDS} operands"))
                    .help("give the value a `param` of its own"));
            }
            if pair.as_rule() != Rule::ident {
                Ok(Spanned::new(
                    Expr::Int(int_value(pair.as_str(), span)? as i64),
                    span,
                ))
            } else {
                Ok(Spanned::new(Expr::Param(pair.as_str().to_string()), span))
            }
        }
        other => unreachable!("unexpected {other:?} in parse_operand"),
    }
}

/// Finds parentheses nested deeper than [`MAX_NESTING`] (outside comments).
fn too_deep(source: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut in_comment = false;
    for (i, c) in source.char_indices() {
        match c {
            '#' => in_comment = true,
            '\n' | ';' if !in_comment || c == '\n' => {
                in_comment = false;
                depth = 0;
            }
            '(' if !in_comment => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(
                        Diagnostic::error("expression is nested too deeply")
                            .label(
                                Span::new(i, i + 1),
                                format!("more than {MAX_NESTING} levels of parentheses"),
                            )
                            .help("give part of the expression a `param` of its own"),
                    );
                }
            }
            ')' if !in_comment => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
