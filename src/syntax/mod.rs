//! Source text to [`Program`]: the pest grammar in `grammar/cnn.pest`, and
//! one `parse_<rule>` function per grammar rule that turns pest's pairs into
//! the syntax tree. Nothing outside this module sees pest.

pub mod ast;
mod errors;
mod graph;
mod hints;

use pest::Parser as _;
use pest::iterators::Pair;

use crate::diagnostic::{Diagnostic, Diagnostics, Span, Spanned};
pub use ast::*;
pub use graph::Line;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/cnn.pest"]
struct CnnParser;

/// Deeper parenthesis nesting than this is refused before pest sees it, so
/// no input can overflow the stack of the parser or of the checker.
const MAX_NESTING: usize = 32;
/// Longest expression, in operands: also bounds the depth of the tree.
const MAX_OPERANDS: usize = 256;

/// Parses a whole `.cnn` file, reporting every statement that does not
/// parse, not only the first.
pub fn parse(source: &str) -> Result<Program, Diagnostics> {
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
                errors.push(errors::explain_bad_line(pair.as_str(), pair.as_span().start()));
                // A block header that does not parse still opens a block,
                // so that its `end` is not reported as well.
                if pair.as_str().trim_start().starts_with("block ") {
                    lines.push(Line::BlockStart(Spanned::new(
                        Block::opened_at(span_of(&pair)),
                        span_of(&pair),
                    )));
                }
            }
            _ => match graph::parse_line(pair) {
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
pub fn parse_line(text: &str) -> Result<Line, Diagnostic> {
    if let Some(d) = too_deep(text) {
        return Err(d);
    }
    match CnnParser::parse(Rule::single_statement, text) {
        Ok(mut pairs) => {
            let statement = pairs
                .next()
                .and_then(|p| p.into_inner().next())
                .expect("`single_statement` holds a statement");
            graph::parse_line(statement)
        }
        Err(_) => Err(errors::explain_bad_line(text, 0)),
    }
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    Span::new(pair.as_span().start(), pair.as_span().end())
}

type Parsed<T> = Result<T, Diagnostic>;

fn parse_statement(pair: Pair<'_, Rule>) -> Parsed<Spanned<Statement>> {
    let span = span_of(&pair);
    let rule = pair.as_rule();
    if let Some(statement) = graph::parse(pair.clone())? {
        return Ok(Spanned::new(statement, span));
    }
    let mut inner = pair.into_inner();
    if rule != Rule::activation_stmt {
        inner.next(); // the statement's keyword
    }
    let statement = match rule {
        Rule::model_stmt => {
            let name = inner.next().expect("model name");
            Statement::Model(Spanned::new(name.as_str().to_string(), span_of(&name)))
        }
        Rule::input_stmt => Statement::Input(parse_input_dims(inner.next().expect("dims"))?),
        Rule::param_stmt => {
            let name = inner.next().expect("param name");
            let value = parse_expr(inner.next().expect("param value"), &mut 0)?;
            Statement::Param {
                name: Spanned::new(name.as_str().to_string(), span_of(&name)),
                value,
            }
        }
        Rule::conv_stmt => Statement::Conv(Box::new(parse_conv(inner)?)),
        Rule::pool_stmt => Statement::Pool(parse_pool(inner)?),
        Rule::dense_stmt => Statement::Dense(parse_dense(inner)?),
        Rule::flatten_stmt => Statement::Flatten,
        Rule::batchnorm_stmt => Statement::BatchNorm,
        Rule::dropout_stmt => Statement::Dropout(parse_number(inner.next().expect("rate"))?),
        Rule::activation_stmt => {
            Statement::Activation(parse_activation(inner.next().expect("activation")).node)
        }
        other => unreachable!("unexpected {other:?} in parse_statement"),
    };
    Ok(Spanned::new(statement, span))
}

/// Options after a layer's required arguments, in any order, each once;
/// each with the span of the whole option (`stride 2`), for "given twice".
#[derive(Default)]
struct Options {
    stride: Option<(Span, Spanned<Expr>)>,
    padding: Option<(Span, Spanned<Padding>)>,
    activation: Option<(Span, Spanned<Activation>)>,
    l2: Option<(Span, Spanned<f64>)>,
    groups: Option<(Span, Spanned<Expr>)>,
}

impl Options {
    /// The `stride`, `padding`, … as the syntax tree keeps them.
    fn take<T>(option: Option<(Span, T)>) -> Option<T> {
        option.map(|(_, value)| value)
    }
}

fn parse_options<'a>(pairs: impl Iterator<Item = Pair<'a, Rule>>) -> Parsed<Options> {
    let mut options = Options::default();
    for pair in pairs {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::stride => {
                let value = parse_expr(pair.into_inner().nth(1).expect("stride value"), &mut 0)?;
                set_once(&mut options.stride, span, value, "stride")?;
            }
            Rule::padding => {
                let padding = match pair.into_inner().next().expect("padding keyword").as_rule() {
                    Rule::kw_same => Padding::Same,
                    Rule::kw_valid => Padding::Valid,
                    other => unreachable!("unexpected {other:?} in parse_options"),
                };
                set_once(&mut options.padding, span, Spanned::new(padding, span), "padding")?;
            }
            Rule::activation => {
                let activation = parse_activation(pair);
                set_once(&mut options.activation, span, activation, "activation")?;
            }
            Rule::l2 => {
                let value = parse_number(pair.into_inner().nth(1).expect("l2 value"))?;
                set_once(&mut options.l2, span, Spanned::new(value.node, span), "l2")?;
            }
            Rule::groups => {
                let value = parse_expr(pair.into_inner().nth(1).expect("groups value"), &mut 0)?;
                set_once(&mut options.groups, span, value, "groups")?;
            }
            other => unreachable!("unexpected {other:?} in parse_options"),
        }
    }
    Ok(options)
}

fn set_once<T>(slot: &mut Option<(Span, T)>, span: Span, value: T, what: &str) -> Parsed<()> {
    if let Some((first, _)) = slot {
        return Err(Diagnostic::error(format!("{what} given twice"))
            .label(span, format!("second {what}"))
            .label(*first, format!("first {what}"))
            .help(format!("a layer takes one {what}; remove one of them")));
    }
    *slot = Some((span, value));
    Ok(())
}

fn parse_conv<'a>(mut inner: impl Iterator<Item = Pair<'a, Rule>>) -> Parsed<Conv> {
    let filters = parse_expr(inner.next().expect("conv filters"), &mut 0)?;
    let kernel = parse_window(inner.next().expect("conv kernel"), "kernel")?;
    let options = parse_options(inner)?;
    Ok(Conv {
        filters,
        kernel,
        stride: Options::take(options.stride),
        padding: Options::take(options.padding),
        activation: Options::take(options.activation),
        l2: Options::take(options.l2),
        groups: Options::take(options.groups),
    })
}

fn parse_pool<'a>(inner: impl Iterator<Item = Pair<'a, Rule>>) -> Parsed<Pool> {
    let mut inner = inner.peekable();
    let kind = match inner.peek().map(|p| p.as_rule()) {
        Some(Rule::pool_kind) => {
            let kw = inner
                .next()
                .expect("peeked")
                .into_inner()
                .next()
                .expect("pool kind keyword");
            match kw.as_rule() {
                Rule::kw_max => PoolKind::Max,
                Rule::kw_avg => PoolKind::Avg,
                other => unreachable!("unexpected {other:?} in parse_pool"),
            }
        }
        _ => PoolKind::Max,
    };
    let window = parse_window(inner.next().expect("pool window"), "pool window")?;
    let options = parse_options(inner)?;
    Ok(Pool {
        kind,
        window,
        stride: Options::take(options.stride),
    })
}

fn parse_dense<'a>(mut inner: impl Iterator<Item = Pair<'a, Rule>>) -> Parsed<Dense> {
    let units = parse_expr(inner.next().expect("dense units"), &mut 0)?;
    let options = parse_options(inner)?;
    Ok(Dense {
        units,
        activation: Options::take(options.activation),
        l2: Options::take(options.l2),
    })
}

fn parse_activation(pair: Pair<'_, Rule>) -> Spanned<Activation> {
    let span = span_of(&pair);
    let word = pair.as_str();
    let activation = Activation::named(word)
        .unwrap_or_else(|| unreachable!("the grammar's activation `{word}` has a row"));
    Spanned::new(activation, span)
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
