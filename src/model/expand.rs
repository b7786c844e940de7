//! From statements to wired layer specs: blocks called in place, `repeat`
//! unrolled, names and `from` resolved to the layers they mean. Shapes come
//! after, in `check::propagate`.

use std::collections::HashMap;

use super::Registry;
use super::check::{Checker, Spec};
use crate::diagnostic::{Diagnostic, Span, Spanned, closest};
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
struct Scope {
    names: HashMap<String, (Source, Span)>,
    /// The output of the last layer, which the next one reads.
    current: Source,
}

/// Expands a program's layer statements, in order, into `out`; `false`
/// when a statement could not be made (then shapes are not propagated).
pub(super) struct Expander<'p, K> {
    blocks: HashMap<&'p str, &'p Block>,
    /// The blocks being expanded, innermost last, with their call sites.
    stack: Vec<(&'p str, Span)>,
    scope: Scope,
    pub out: Vec<Wired<K>>,
    pub complete: bool,
    /// Whether [`MAX_LAYERS`] was reached (and reported).
    too_many: bool,
}

impl<'p, K: Registry> Expander<'p, K> {
    pub fn new(statements: &'p [Spanned<Statement>], cx: &mut Checker) -> Self {
        let mut blocks: HashMap<&str, &Block> = HashMap::new();
        for s in statements {
            if let Statement::Block(b) = &s.node {
                if let Some(first) = blocks.get(b.name.node.as_str()) {
                    cx.error(
                        Diagnostic::error(format!("block `{}` is defined twice", b.name.node))
                            .label(b.name.span, "defined again here")
                            .label(first.name.span, "first defined here"),
                    );
                    continue;
                }
                blocks.insert(&b.name.node, b);
            }
        }
        Expander {
            blocks,
            stack: Vec::new(),
            scope: Scope {
                names: HashMap::new(),
                current: Source::Input,
            },
            out: Vec::new(),
            complete: true,
            too_many: false,
        }
    }

    /// One statement of the model (or of a block being called).
    pub fn statement(&mut self, statement: &'p Statement, span: Span, cx: &mut Checker) {
        match statement {
            Statement::Model(_) | Statement::Input(_) | Statement::Param { .. } | Statement::Block(_) => {}
            Statement::Wired { label, layer, from } => self.wired(label.as_ref(), layer, from.as_ref(), cx),
            Statement::Call { name, args } => self.call(name, args, span, cx),
            Statement::Repeat { count, body } => {
                if let Statement::Wired {
                    label: Some(label), ..
                } = &body.node
                {
                    cx.error(
                        Diagnostic::error("a repeated layer cannot be named")
                            .label(label.span, "this name would be given once per repeat")
                            .help("name the layer after the repeat, or repeat a block"),
                    );
                    self.complete = false;
                    return;
                }
                let Some(n) = cx.count(count, "repeats") else {
                    self.complete = false;
                    return;
                };
                for _ in 0..n {
                    self.statement(&body.node, body.span, cx);
                    // One report of a problem, not one per repeat.
                    if !self.complete {
                        break;
                    }
                }
            }
            Statement::Add(names) | Statement::Concat(names) => {
                let more: Option<Vec<(Source, Span)>> = names
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

    fn push(&mut self, mut spec: Spec<K>, more: Vec<(Source, Span)>, cx: &mut Checker) {
        if let Some(&(_, call)) = self.stack.first() {
            spec.site = call;
        }
        if self.out.len() >= MAX_LAYERS {
            if std::mem::replace(&mut self.too_many, true) {
                return;
            }
            cx.error(
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

    /// Gives the current tensor a name.
    fn name(&mut self, label: &Spanned<String>, cx: &mut Checker) {
        if label.node == "in" {
            return;
        }
        if let Some((_, first)) = self.scope.names.get(&label.node) {
            cx.error(
                Diagnostic::error(format!("the name `{}` is given twice", label.node))
                    .label(label.span, "named again here")
                    .label(*first, "first named here")
                    .help("names must differ within a block and within the model"),
            );
            return;
        }
        self.scope
            .names
            .insert(label.node.clone(), (self.scope.current, label.span));
    }

    /// The tensor a name means here, or a located reason.
    fn resolve(&self, name: &Spanned<String>, cx: &mut Checker) -> Option<Source> {
        if let Some((source, _)) = self.scope.names.get(&name.node) {
            return Some(*source);
        }
        let mut d = Diagnostic::error(format!("unknown name `{}`", name.node))
            .label(name.span, "no layer output is named so before this point");
        if name.node == "in" {
            d = d.help("`in` is the input of a block, and means nothing outside one");
        } else {
            let known: Vec<&str> = self
                .scope
                .names
                .keys()
                .map(String::as_str)
                .filter(|n| *n != "in")
                .collect();
            d = match closest(&name.node, known.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!(
                    "name a layer's output first: `{}: conv 32 3x3`",
                    name.node
                )),
            };
        }
        cx.error(d);
        None
    }

    /// `NAME(ARGS)`: the block's statements in place, its parameters bound
    /// to the arguments, `in` to the current tensor, its names its own.
    fn call(
        &mut self,
        name: &Spanned<String>,
        args: &[Spanned<crate::syntax::Expr>],
        span: Span,
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
        if let Some(at) = self.stack.iter().position(|(b, _)| *b == name.node) {
            // The cycle, from the outer use of this block to this one.
            let chain: Vec<String> = self.stack[at..]
                .iter()
                .map(|(b, _)| format!("`{b}`"))
                .chain(std::iter::once(format!("`{}`", name.node)))
                .collect();
            cx.error(
                Diagnostic::error(format!("block `{}` uses itself", name.node))
                    .label(span, "this use")
                    .label(self.stack[at].1, "is inside this use of the same block")
                    .label(block.name.span, "defined here")
                    .help(format!(
                        "a block cannot use itself{}: remove the inner use; to apply a block several times, write `repeat N {}(...)` where it is used",
                        if chain.len() > 2 {
                            format!(", even through another block ({})", chain.join(" → "))
                        } else {
                            String::new()
                        },
                        name.node
                    )),
            );
            self.complete = false;
            return;
        }
        let Some(bindings) = self.bind(block, name, args, span, cx) else {
            self.complete = false;
            return;
        };
        let inner = Scope {
            names: HashMap::from([("in".to_string(), (self.scope.current, block.name.span))]),
            current: self.scope.current,
        };
        let outer = std::mem::replace(&mut self.scope, inner);
        self.stack.push((&block.name.node, span));
        let shadowed = cx.bind_params(bindings);
        for s in &block.body {
            self.statement(&s.node, s.span, cx);
        }
        cx.unbind_params(shadowed);
        self.stack.pop();
        let output = self.scope.current;
        self.scope = outer;
        self.scope.current = output;
    }

    /// The values of a block's parameters for one call, or why not.
    fn bind(
        &self,
        block: &Block,
        name: &Spanned<String>,
        args: &[Spanned<crate::syntax::Expr>],
        span: Span,
        cx: &mut Checker,
    ) -> Option<Vec<(String, i64, Span)>> {
        let signature = || {
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
        };
        if args.len() > block.params.len() {
            cx.error(
                Diagnostic::error(format!(
                    "block `{}` takes {} argument(s), but {} are given",
                    name.node,
                    block.params.len(),
                    args.len()
                ))
                .label(args[block.params.len()].span, "one too many from here")
                .label(block.name.span, signature()),
            );
            return None;
        }
        let mut bound = Vec::new();
        for (i, (param, default)) in block.params.iter().enumerate() {
            let value = match (args.get(i), default) {
                (Some(arg), _) => cx.eval(arg)?,
                (None, Some(default)) => cx.eval(default)?,
                (None, None) => {
                    cx.error(
                        Diagnostic::error(format!(
                            "block `{}` needs a value for `{}`",
                            name.node, param.node
                        ))
                        .label(span, format!("{} argument(s) given", args.len()))
                        .label(param.span, "this parameter has no default")
                        .note(signature()),
                    );
                    return None;
                }
            };
            bound.push((param.node.clone(), value, param.span));
        }
        Some(bound)
    }
}
