//! The statements that wire a graph: names and `from`, blocks with their
//! calls, and `repeat`. Blocks arrive as separate `block` and `end` lines
//! ([`Line`]); [`assemble_blocks`] pairs them.

use pest::iterators::Pair;

use super::{Layers, Parsed, Rule, parse_expr, parse_statement, span_of};
use crate::diagnostic::{Diagnostic, Span, Spanned};
use crate::syntax::ast::{Block, Statement};

/// One statement of a file, before blocks are put together.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Statement(Spanned<Statement>),
    /// `block NAME(PARAMS)`: its body and `end` follow on later lines.
    BlockStart(Spanned<Block>),
    /// `end`.
    End(Span),
}

/// A line: a block's header or `end`, or a statement.
pub(super) fn parse_line(pair: Pair<'_, Rule>, layers: &Layers) -> Parsed<Line> {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::end_stmt => Ok(Line::End(span)),
        Rule::block_stmt => {
            let mut inner = pair.into_inner();
            inner.next(); // `block`
            let block = name(inner.next().expect("block name"));
            let params = inner
                .map(|p| {
                    let mut parts = p.into_inner();
                    let param = name(parts.next().expect("parameter name"));
                    let default = parts.next().map(|e| parse_expr(e, &mut 0)).transpose()?;
                    Ok((param, default))
                })
                .collect::<Parsed<_>>()?;
            let header = Block {
                name: block,
                params,
                body: Vec::new(),
                end: span,
            };
            Ok(Line::BlockStart(Spanned::new(header, span)))
        }
        _ => parse_statement(pair, layers).map(Line::Statement),
    }
}

/// The graph statements; `None` for the others (parsed by the caller).
pub(super) fn parse(pair: Pair<'_, Rule>, layers: &Layers) -> Parsed<Option<Statement>> {
    let rule = pair.as_rule();
    let mut inner = pair.into_inner();
    let statement = match rule {
        Rule::wired_stmt => {
            let mut label = None;
            let mut layer = None;
            let mut from = None;
            for part in inner {
                match part.as_rule() {
                    Rule::label => label = Some(name(part.into_inner().next().expect("label name"))),
                    Rule::from_clause => from = Some(name(part.into_inner().nth(1).expect("from name"))),
                    _ => layer = Some(Box::new(parse_statement(part, layers)?)),
                }
            }
            Statement::Wired {
                label,
                layer: layer.expect("a wired statement has a layer"),
                from,
            }
        }
        Rule::named_repeat => {
            let label = name(
                inner
                    .next()
                    .expect("label")
                    .into_inner()
                    .next()
                    .expect("label name"),
            );
            let repeat = parse_statement(inner.next().expect("the repeat"), layers)?;
            Statement::Wired {
                label: Some(label),
                layer: Box::new(repeat),
                from: None,
            }
        }
        Rule::call_stmt => {
            let block = name(inner.next().expect("block name"));
            let args = inner.map(|e| parse_expr(e, &mut 0)).collect::<Parsed<_>>()?;
            Statement::Call { name: block, args }
        }
        Rule::repeat_stmt => {
            inner.next(); // `repeat`
            let count = parse_expr(inner.next().expect("repeat count"), &mut 0)?;
            let body = Box::new(parse_statement(inner.next().expect("repeated layer"), layers)?);
            Statement::Repeat { count, body }
        }
        _ => return Ok(None),
    };
    Ok(Some(statement))
}

fn name(pair: Pair<'_, Rule>) -> Spanned<String> {
    Spanned::new(pair.as_str().to_string(), span_of(&pair))
}

/// Moves the lines between `block …` and `end` into the block. A block
/// inside a block, an `end` without a block, and a block without `end`
/// are reported.
pub(super) fn assemble_blocks(lines: Vec<Line>, errors: &mut Vec<Diagnostic>) -> Vec<Spanned<Statement>> {
    let mut out = Vec::new();
    let mut open: Option<Spanned<Block>> = None;
    for line in lines {
        match (line, &mut open) {
            (Line::End(end), _) => match open.take() {
                Some(mut block) => {
                    block.node.end = end;
                    let span = Span::new(block.span.start, end.end);
                    out.push(Spanned::new(Statement::Block(block.node), span));
                }
                None => errors.push(
                    Diagnostic::error("`end` without a `block`")
                        .label(end, "nothing to end here")
                        .help("a block starts with `block NAME(PARAMS)` and ends with `end`"),
                ),
            },
            (Line::BlockStart(inner), Some(outer)) => errors.push(
                Diagnostic::error("a block cannot be defined inside another")
                    .label(inner.span, "this block")
                    .label(outer.span, "is inside this one")
                    .help("define blocks one after another; a block may use another"),
            ),
            (Line::BlockStart(block), None) => open = Some(block),
            (Line::Statement(s), Some(block)) => block.node.body.push(s),
            (Line::Statement(s), None) => out.push(s),
        }
    }
    if let Some(block) = open {
        errors.push(
            Diagnostic::error(format!("block `{}` has no `end`", block.node.name.node))
                .label(block.span, "the block starts here")
                .help("end it with a line `end`"),
        );
    }
    out
}
