//! From statements to wired layer specs: blocks called in place
//! (`blocks.rs`), `repeat` unrolled, names and `from` resolved to the
//! layers they mean (`names.rs`). Shapes come after, in
//! `check::propagate`.

use std::collections::HashMap;

use super::Registry;
use super::check::{Checker, Spec, Use};
use crate::diagnostic::{Diagnostic, Span, Spanned};
use crate::syntax::{Block, Statement};

/// The most layers a model may expand to: far beyond any network this
/// tool trains, and a bound on the memory and time `repeat` can ask for.
const MAX_LAYERS: usize = 10_000;

/// A tensor a layer reads: the model's input, or the output of the spec
/// with this index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Input,
    Spec(usize),
}

/// A layer to make, and what it reads.
pub(super) struct Wired<K> {
    pub spec: Spec<K>,
    /// The tensor it reads first: the previous layer's output, or `from`.
    pub from: Source,
    /// The further tensors an `add` or `concat` reads, with their names'
    /// places.
    pub more: Vec<(Source, Span)>,
}

/// The names visible where a statement stands, and the current tensor.
pub(super) struct Scope {
    pub names: HashMap<String, (Source, Span)>,
    /// The output of the last layer, which the next one reads.
    pub current: Source,
}

/// Expands a program's layer statements, in order, into `out`; `false`
/// when a statement could not be made (then shapes are not propagated).
///
/// Expansion recurses once per block use inside a block use, which
/// [`super::blocks::MAX_DEPTH`] bounds; everything else is a loop.
pub(super) struct Expander<'p, K> {
    pub(super) blocks: HashMap<&'p str, &'p Block>,
    /// Blocks refused at their definition (a `param` inside, say): their
    /// uses make nothing and report nothing more.
    pub(super) broken: Vec<&'p str>,
    /// Every name given in the model's own lines, and in each block's.
    pub(super) model_names: HashMap<&'p str, Span>,
    pub(super) block_names: HashMap<&'p str, (&'p str, Span)>,
    /// The blocks being expanded, innermost last, with their call sites.
    pub(super) stack: Vec<(&'p str, Span)>,
    pub(super) scope: Scope,
    pub out: Vec<Wired<K>>,
    pub complete: bool,
    /// Whether expansion stopped for good (too many layers, blocks too
    /// deep): reported once, and nothing more is expanded.
    pub(super) stopped: bool,
    /// The repetition the next block use is in, if any: (which, of how many).
    pub(super) repetition: Option<(usize, usize)>,
}

impl<'p, K: Registry> Expander<'p, K> {
    pub fn new(statements: &'p [Spanned<Statement>], cx: &mut Checker) -> Self {
        let mut expander = Expander {
            blocks: HashMap::new(),
            broken: Vec::new(),
            model_names: HashMap::new(),
            block_names: HashMap::new(),
            stack: Vec::new(),
            scope: Scope {
                names: HashMap::new(),
                current: Source::Input,
            },
            out: Vec::new(),
            complete: true,
            stopped: false,
            repetition: None,
        };
        expander.define_blocks(statements, cx);
        expander
    }

    /// One statement of the model (or of a block being called).
    pub fn statement(&mut self, statement: &'p Statement, span: Span, cx: &mut Checker) {
        if self.stopped {
            self.complete = false;
            return;
        }
        match statement {
            Statement::Model(_) | Statement::Input(_) | Statement::Param { .. } | Statement::Block(_) => {}
            Statement::Wired { label, layer, from } => self.wired(label.as_ref(), layer, from.as_ref(), cx),
            Statement::Call { name, args } => {
                let repetition = self.repetition.take();
                self.call(name, args, span, repetition, cx);
            }
            Statement::Repeat { count, body } => self.repeat(count, body, span, cx),
            Statement::Layer(layer) if !layer.operands.is_empty() => {
                let more: Option<Vec<(Source, Span)>> = layer
                    .operands
                    .iter()
                    .map(|n| Some((self.resolve(n, cx)?, n.span)))
                    .collect();
                match (more, K::lower(statement, span, cx)) {
                    (Some(more), Some(spec)) => self.push(spec, more, cx),
                    _ => self.complete = false,
                }
            }
            layer => match K::lower(layer, span, cx) {
                Some(spec) => self.push(spec, Vec::new(), cx),
                None => self.complete = false,
            },
        }
    }

    /// `repeat N LAYER`: the layer N times, each repetition a use that its
    /// errors name (a block use names it in its own label).
    fn repeat(
        &mut self,
        count: &Spanned<crate::syntax::Expr>,
        body: &'p Spanned<Statement>,
        span: Span,
        cx: &mut Checker,
    ) {
        if let Statement::Wired {
            label: Some(label), ..
        } = &body.node
        {
            cx.error(
                Diagnostic::error("a repeated layer cannot be named")
                    .label(label.span, "this name would be given once per repeat")
                    .help(format!(
                        "name what the repeat ends with instead: `{}: repeat …`",
                        label.node
                    )),
            );
            self.complete = false;
            return;
        }
        let Some(n) = cx.repetitions(count) else {
            self.complete = false;
            return;
        };
        let is_call = matches!(body.node, Statement::Call { .. });
        for k in 1..=n {
            if is_call {
                self.repetition = Some((k, n));
            } else {
                cx.uses.push(Use {
                    span,
                    label: format!("repetition {k} of {n}"),
                });
            }
            self.statement(&body.node, body.span, cx);
            if !is_call {
                cx.uses.pop();
            }
            // One report of a problem, not one per repeat.
            if !self.complete {
                break;
            }
        }
    }

    pub(super) fn push(&mut self, mut spec: Spec<K>, more: Vec<(Source, Span)>, cx: &mut Checker) {
        if let Some(&(_, call)) = self.stack.first() {
            spec.site = call;
        }
        spec.uses = cx.uses.clone();
        if self.out.len() >= MAX_LAYERS {
            self.stopped = true;
            // About the whole expansion, not the use it stopped in.
            cx.error_about_uses(
                Diagnostic::error(format!("the model expands to more than {MAX_LAYERS} layers"))
                    .label(spec.span, format!("layer {} is made here", MAX_LAYERS + 1))
                    .help("use smaller `repeat` counts"),
            );
            self.complete = false;
            return;
        }
        self.out.push(Wired {
            spec,
            from: self.scope.current,
            more,
        });
        self.scope.current = Source::Spec(self.out.len() - 1);
    }

    /// `[label:] layer [from NAME]`.
    fn wired(
        &mut self,
        label: Option<&Spanned<String>>,
        layer: &'p Spanned<Statement>,
        from: Option<&Spanned<String>>,
        cx: &mut Checker,
    ) {
        if let Some(from) = from {
            match self.resolve(from, cx) {
                Some(source) => self.scope.current = source,
                None => {
                    self.complete = false;
                    return;
                }
            }
        }
        self.statement(&layer.node, layer.span, cx);
        if let Some(label) = label {
            self.name(label, cx);
        }
    }
}
