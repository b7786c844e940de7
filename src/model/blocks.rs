//! Blocks: their definitions (each name once; no `param`, `input` or
//! `model` inside), and each use expanded in place with its parameters
//! bound, `in` the tensor it is used on, and its names its own.

use std::collections::HashMap;

use super::Registry;
use super::check::{Checker, Use};
use super::eval::Shadowed;
use super::expand::{Expander, Scope};
use crate::diagnostic::{Diagnostic, Span, Spanned, closest};
use crate::syntax::{Block, Expr, Statement};

/// How deep block uses may nest (a use inside a block used inside a
/// block …): far beyond any network, and a bound on the expander's
/// recursion, so that no file can overflow its stack.
pub(super) const MAX_DEPTH: usize = 64;

impl<'p, K: Registry> Expander<'p, K> {
    /// Records each block by name, refusing a second definition and the
    /// statements a block cannot hold.
    pub(super) fn define_blocks(&mut self, statements: &'p [Spanned<Statement>], cx: &mut Checker) {
        for s in statements {
            let Statement::Block(b) = &s.node else {
                continue;
            };
            if let Some(first) = self.blocks.get(b.name.node.as_str()) {
                cx.error(
                    Diagnostic::error(format!("block `{}` is defined twice", b.name.node))
                        .label(b.name.span, "defined again here")
                        .label(first.name.span, "first defined here"),
                );
                continue;
            }
            self.blocks.insert(&b.name.node, b);
            for inner in &b.body {
                if let Some(d) = misplaced(&inner.node, inner.span, b) {
                    cx.error(d);
                    self.broken.push(&b.name.node);
                }
            }
        }
        self.collect_names(statements);
    }

    /// `NAME(ARGS)`: the block's statements in place, its parameters bound
    /// to the arguments, `in` to the current tensor, its names its own.
    /// `repetition` is (which, of how many) when a `repeat` makes the use.
    pub(super) fn call(
        &mut self,
        name: &Spanned<String>,
        args: &[Spanned<Expr>],
        span: Span,
        repetition: Option<(usize, usize)>,
        cx: &mut Checker,
    ) {
        let Some(&block) = self.blocks.get(name.node.as_str()) else {
            let known: Vec<&str> = self.blocks.keys().copied().collect();
            let mut d =
                Diagnostic::error(format!("unknown block `{}`", name.node)).label(name.span, "not defined");
            d = match closest(&name.node, known.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!("define it: `block {}(...)` … `end`", name.node)),
            };
            cx.error(d);
            self.complete = false;
            return;
        };
        if self.broken.contains(&block.name.node.as_str()) || !self.may_enter(block, span, cx) {
            self.complete = false;
            return;
        }
        let Some(shadowed) = self.bind(block, name, args, span, cx) else {
            self.complete = false;
            return;
        };
        let inner = Scope {
            names: HashMap::from([("in".to_string(), (self.scope.current, block.name.span))]),
            current: self.scope.current,
        };
        let outer = std::mem::replace(&mut self.scope, inner);
        self.stack.push((&block.name.node, span));
        let label = match repetition {
            Some((k, n)) => format!("this use of `{}`, repetition {k} of {n}", block.name.node),
            None => format!("this use of `{}`", block.name.node),
        };
        cx.uses.push(Use { span, label });
        for s in &block.body {
            self.statement(&s.node, s.span, cx);
        }
        cx.uses.pop();
        cx.unbind_params(shadowed);
        self.stack.pop();
        let output = self.scope.current;
        self.scope = outer;
        self.scope.current = output;
    }

    /// Whether `block` may be used at `span`: not inside a use of itself,
    /// and not nested deeper than [`MAX_DEPTH`].
    fn may_enter(&mut self, block: &Block, span: Span, cx: &mut Checker) -> bool {
        let name = &block.name.node;
        if let Some(at) = self.stack.iter().position(|(b, _)| b == name) {
            // The cycle, from the outer use of this block to this one.
            let chain: Vec<String> = self.stack[at..]
                .iter()
                .map(|(b, _)| format!("`{b}`"))
                .chain(std::iter::once(format!("`{name}`")))
                .collect();
            let through = if chain.len() > 2 {
                format!(", even through another block ({})", chain.join(" → "))
            } else {
                String::new()
            };
            cx.error_about_uses(
                Diagnostic::error(format!("block `{name}` uses itself"))
                    .label(span, "this use")
                    .label(self.stack[at].1, "is inside this use of the same block")
                    .label(block.name.span, "defined here")
                    .help(format!(
                        "a block cannot use itself{through}: remove the inner use; to apply a block several times, write `repeat N {name}(...)` where it is used"
                    )),
            );
            return false;
        }
        if self.stack.len() >= MAX_DEPTH {
            let (outermost, first) = self.stack[0];
            // Reported once: the uses around it would each report it again.
            self.stopped = true;
            cx.error_about_uses(
                Diagnostic::error(format!("blocks are used inside each other more than {MAX_DEPTH} deep"))
                    .label(span, format!("this use of `{name}` is {} deep", MAX_DEPTH + 1))
                    .label(first, format!("the outermost use, of `{outermost}`"))
                    .help(format!(
                        "a block may use another up to {MAX_DEPTH} deep; write some of these blocks' layers out in place of their use"
                    )),
            );
            return false;
        }
        true
    }

    /// Binds a block's parameters for one use: the arguments, evaluated
    /// where the block is used, then the defaults of the rest, each of
    /// which may read the parameters before it (`block b(n, m = n*2)`).
    /// Returns what the parameters shadowed, or `None` after reporting why
    /// they cannot be bound.
    fn bind(
        &self,
        block: &Block,
        name: &Spanned<String>,
        args: &[Spanned<Expr>],
        span: Span,
        cx: &mut Checker,
    ) -> Option<Shadowed> {
        if args.len() > block.params.len() {
            cx.error(
                Diagnostic::error(format!(
                    "block `{}` takes {} argument(s), but {} are given",
                    name.node,
                    block.params.len(),
                    args.len()
                ))
                .label(args[block.params.len()].span, "one too many from here")
                .label(block.name.span, signature(block)),
            );
            return None;
        }
        let given: Vec<Option<i64>> = args.iter().map(|a| cx.eval(a)).collect();
        if given.iter().any(Option::is_none) {
            return None;
        }
        let mut shadowed = Vec::new();
        for (i, (param, default)) in block.params.iter().enumerate() {
            let value = match (given.get(i), default) {
                (Some(value), _) => *value,
                (None, Some(default)) => cx.eval(default),
                (None, None) => {
                    cx.error(
                        Diagnostic::error(format!(
                            "block `{}` needs a value for `{}`",
                            name.node, param.node
                        ))
                        .label(span, format!("{} argument(s) given", args.len()))
                        .label(param.span, "this parameter has no default")
                        .note(signature(block)),
                    );
                    None
                }
            };
            let Some(value) = value else {
                cx.unbind_params(shadowed);
                return None;
            };
            shadowed.push(cx.bind_param(&param.node, value, param.span));
        }
        Some(shadowed)
    }
}

/// `block b(n, m = …)`, as a note or label shows a block's parameters.
fn signature(block: &Block) -> String {
    let params: Vec<String> = block
        .params
        .iter()
        .map(|(p, d)| {
            if d.is_some() {
                format!("{} = …", p.node)
            } else {
                p.node.clone()
            }
        })
        .collect();
    format!("block {}({})", block.name.node, params.join(", "))
}

/// Why a statement cannot stand inside a block: a `param`, `input` or
/// `model` line belongs to the model.
fn misplaced(statement: &Statement, span: Span, block: &Block) -> Option<Diagnostic> {
    let (what, help) = match statement {
        Statement::Param { name, .. } => (
            "a `param`",
            format!(
                "declare `{}` at the top of the file, or make it a parameter of the block: `block {}({}, …)`",
                name.node, block.name.node, name.node
            ),
        ),
        Statement::Input(_) => (
            "`input`",
            "the model has one input: give it at the top of the file; inside a block, `in` is the tensor the block is used on".to_string(),
        ),
        Statement::Model(_) => (
            "`model`",
            "name the model at the top of the file".to_string(),
        ),
        _ => return None,
    };
    Some(
        Diagnostic::error(format!("{what} cannot stand inside a block"))
            .label(span, "inside a block")
            .label(
                block.name.span,
                format!("block `{}` starts here", block.name.node),
            )
            .help(help),
    )
}
