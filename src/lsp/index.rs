//! Where each name, block and `param` is defined and used. Built statement
//! by statement from every statement that parses, so that navigation keeps
//! working in a file with a broken line (which is most files, mid-edit).

use crate::diagnostic::{Span, Spanned};
use crate::kinds::SIGNATURES;
use crate::syntax::{Arg, Expr, Line, Statement, parse_line};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    /// A layer's named output (`main: batchnorm`).
    Name,
    Block,
    /// A `param`, or a block's parameter.
    Param,
}

/// A definition or a use of a symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub kind: SymbolKind,
    pub name: String,
    /// The word itself.
    pub span: Span,
    /// The block it stands in (an index into [`Index::blocks`]), if any.
    pub scope: Option<usize>,
}

/// A statement that parsed, for the outline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its text, as written.
    pub text: String,
    pub span: Span,
    pub scope: Option<usize>,
    /// The label it gives its output, if any.
    pub label: Option<String>,
    pub is_param: bool,
}

/// A block definition: its header and, once written, its `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSite {
    pub name: String,
    pub header: Span,
    /// The header as written (`block basic(filters)`).
    pub signature: String,
    pub end: Option<Span>,
}

impl BlockSite {
    /// From the header to `end` (or the header alone while unclosed).
    pub fn span(&self) -> Span {
        self.end.map_or(self.header, |e| self.header.to(e))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    pub definitions: Vec<Occurrence>,
    pub references: Vec<Occurrence>,
    pub entries: Vec<Entry>,
    pub blocks: Vec<BlockSite>,
}

impl Index {
    pub fn build(text: &str) -> Index {
        let mut index = Index::default();
        let mut scope: Option<usize> = None;
        for (start, statement) in statements(text) {
            let Ok(line) = parse_line(statement, SIGNATURES) else {
                continue;
            };
            let shift = |s: Span| Span::new(s.start + start, s.end + start);
            let whole = Span::new(start, start + statement.len());
            match line {
                Line::BlockStart(block) => {
                    index.blocks.push(BlockSite {
                        name: block.node.name.node.clone(),
                        header: whole,
                        signature: statement.to_string(),
                        end: None,
                    });
                    let b = index.blocks.len() - 1;
                    index.define(SymbolKind::Block, &block.node.name, shift, None);
                    for (param, default) in &block.node.params {
                        index.define(SymbolKind::Param, param, shift, Some(b));
                        if let Some(d) = default {
                            index.expr(d, shift, None);
                        }
                    }
                    scope = Some(b);
                }
                Line::End(_) => {
                    if let Some(b) = scope.take() {
                        index.blocks[b].end = Some(whole);
                    }
                }
                Line::Statement(s) => {
                    let (label, is_param) = match &s.node {
                        Statement::Wired { label, .. } => (label.as_ref().map(|l| l.node.clone()), false),
                        Statement::Param { .. } => (None, true),
                        _ => (None, false),
                    };
                    index.entries.push(Entry {
                        text: statement.to_string(),
                        span: whole,
                        scope,
                        label,
                        is_param,
                    });
                    index.statement(&s.node, shift, scope);
                }
            }
        }
        index
    }

    fn define(
        &mut self,
        kind: SymbolKind,
        name: &Spanned<String>,
        shift: impl Fn(Span) -> Span,
        scope: Option<usize>,
    ) {
        self.definitions.push(Occurrence {
            kind,
            name: name.node.clone(),
            span: shift(name.span),
            scope,
        });
    }

    fn refer(
        &mut self,
        kind: SymbolKind,
        name: &Spanned<String>,
        shift: impl Fn(Span) -> Span,
        scope: Option<usize>,
    ) {
        self.references.push(Occurrence {
            kind,
            name: name.node.clone(),
            span: shift(name.span),
            scope,
        });
    }

    fn statement(&mut self, s: &Statement, shift: impl Fn(Span) -> Span + Copy, scope: Option<usize>) {
        match s {
            Statement::Param { name, value } => {
                self.define(SymbolKind::Param, name, shift, scope);
                self.expr(value, shift, scope);
            }
            Statement::Layer(layer) => {
                for (_, value) in &layer.values {
                    let sides = match &value.node {
                        Arg::Expr(e) => vec![Spanned::new(e.clone(), value.span)],
                        Arg::Window(w) => w.sides().into_iter().cloned().collect(),
                        Arg::Number(_) | Arg::Word(_) => Vec::new(),
                    };
                    for e in &sides {
                        self.expr(e, shift, scope);
                    }
                }
                for n in &layer.operands {
                    self.refer(SymbolKind::Name, n, shift, scope);
                }
            }
            Statement::Wired { label, layer, from } => {
                self.statement(&layer.node, shift, scope);
                if let Some(from) = from {
                    self.refer(SymbolKind::Name, from, shift, scope);
                }
                if let Some(label) = label {
                    self.define(SymbolKind::Name, label, shift, scope);
                }
            }
            Statement::Call { name, args } => {
                self.refer(SymbolKind::Block, name, shift, scope);
                for a in args {
                    self.expr(a, shift, scope);
                }
            }
            Statement::Repeat { count, body } => {
                self.expr(count, shift, scope);
                self.statement(&body.node, shift, scope);
            }
            _ => {}
        }
    }

    fn expr(&mut self, e: &Spanned<Expr>, shift: impl Fn(Span) -> Span + Copy, scope: Option<usize>) {
        match &e.node {
            Expr::Int(_) => {}
            Expr::Param(name) => self.refer(
                SymbolKind::Param,
                &Spanned::new(name.clone(), e.span),
                shift,
                scope,
            ),
            Expr::Binary { lhs, rhs, .. } => {
                self.expr(lhs, shift, scope);
                self.expr(rhs, shift, scope);
            }
        }
    }

    /// The definition or use under a byte offset (a cursor just after a
    /// word is on it).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        self.definitions
            .iter()
            .chain(&self.references)
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    /// What an occurrence means: its definition. Names are local to their
    /// block; a block's parameter hides a `param` of the same name.
    pub fn definition(&self, o: &Occurrence) -> Option<&Occurrence> {
        let find = |scope: Option<usize>| {
            self.definitions
                .iter()
                .find(|d| d.kind == o.kind && d.name == o.name && d.scope == scope)
        };
        match o.kind {
            SymbolKind::Block => find(None),
            SymbolKind::Name => find(o.scope),
            SymbolKind::Param => find(o.scope).or_else(|| find(None)),
        }
    }

    /// Every use of a definition.
    pub fn uses(&self, definition: &Occurrence) -> Vec<&Occurrence> {
        self.references
            .iter()
            .filter(|r| self.definition(r) == Some(definition))
            .collect()
    }

    /// The block a byte offset stands in.
    pub fn block_at(&self, offset: usize) -> Option<usize> {
        self.blocks.iter().position(|b| {
            let span = b.span();
            span.start <= offset && (offset <= span.end || b.end.is_none())
        })
    }
}

/// Each statement's text (trimmed, without comment) and its byte offset:
/// lines split at line breaks and `;`.
pub fn statements(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive(['\n', '\r']) {
        let code = line.split('#').next().unwrap_or("");
        let mut start = line_start;
        for part in code.split(';') {
            let trimmed = part.trim_start();
            let lead = part.len() - trimmed.len();
            let trimmed = trimmed.trim_end();
            if !trimmed.is_empty() {
                out.push((start + lead, trimmed));
            }
            start += part.len() + 1;
        }
        line_start += line.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "param width = 8\ninput 8x8x1\nblock b(f)\n  x: conv f 3x3 same\n  add x in\nend\nskip: conv width 3x3 same; b(width*2) # c\nadd skip\n";

    #[test]
    fn definitions_and_uses_in_their_scopes() {
        let index = Index::build(MODEL);
        assert_eq!(index.blocks.len(), 1);
        let block = MODEL.find("block").unwrap();
        let end = MODEL.find("end").unwrap() + 3;
        assert_eq!(index.blocks[0].span(), Span::new(block, end));
        let width = index.definitions.iter().find(|d| d.name == "width").unwrap();
        assert_eq!(index.uses(width).len(), 2);
        let f = index.definitions.iter().find(|d| d.name == "f").unwrap();
        assert_eq!(f.scope, Some(0));
        assert_eq!(index.uses(f).len(), 1);
        let skip = index.definitions.iter().find(|d| d.name == "skip").unwrap();
        assert_eq!(&MODEL[skip.span.range()], "skip");
        let uses = index.uses(skip);
        assert_eq!(uses.len(), 1);
        assert_eq!(&MODEL[uses[0].span.start - 4..uses[0].span.end], "add skip");
        let call = index
            .references
            .iter()
            .find(|r| r.kind == SymbolKind::Block)
            .unwrap();
        assert_eq!(index.definition(call).map(|d| d.span.start), Some(block + 6));
    }

    #[test]
    fn broken_lines_do_not_hide_the_rest() {
        let index = Index::build("param w = 4\nconv w 3x3 rellu\ndense w\n");
        assert_eq!(index.references.len(), 1);
        assert_eq!(index.entries.len(), 2);
    }

    #[test]
    fn statements_carry_their_offsets() {
        let text = "a;  b # c;d\r\n e";
        let found = statements(text);
        assert_eq!(found, vec![(0, "a"), (4, "b"), (14, "e")]);
    }
}
