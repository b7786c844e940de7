//! [`Program`] to [`Model`]: resolve parameters, propagate shapes, cost
//! every layer, and report every problem with its place in the source.

use std::collections::HashMap;

use super::expand::{Expander, Source, Wired};
use super::{KindRule, Layer, Model, Operand, Producer, Registry, Shape, Site};
use crate::activation::Activation;
use crate::diagnostic::{Diagnostic, Diagnostics, Span, Spanned};
use crate::syntax::{BinOp, Expr, Program, Statement};
use crate::units::human_bytes;

/// What the command line adds to a model file.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The model's name when the file has no `model` line (the file stem).
    pub default_name: String,
    /// `--input HxWxC`, for files without an `input` line.
    pub input: Option<[usize; 3]>,
    /// `--set NAME=VALUE`, each overriding a declared `param`.
    pub overrides: Vec<(String, i64)>,
}

/// Largest tensor, in bytes of f32, that any layer may hold for one sample,
/// and the largest total of weights: beyond this no GPU binding can hold it.
pub const MAX_TENSOR_BYTES: u64 = 1 << 31;

pub fn check<K: Registry>(program: &Program, options: &CheckOptions) -> Result<Model<K>, Diagnostics> {
    let mut checker = Checker {
        errors: Vec::new(),
        params: HashMap::new(),
        param_order: Vec::new(),
        declared_later: HashMap::new(),
    };
    let model = checker.run(program, options);
    if checker.errors.is_empty() {
        Ok(model.expect("a model when there are no errors"))
    } else {
        Err(Diagnostics(checker.errors))
    }
}

/// A layer statement with its counts evaluated, before shapes are known.
pub struct Spec<K> {
    pub kind: K,
    /// The statement.
    pub span: Span,
    /// What a shape error points at: a conv's kernel, a pool's window;
    /// else the statement.
    pub focus: Span,
    /// The model line it comes from (see `Layer::site`); set by the
    /// expander.
    pub site: Span,
}

impl<K> Spec<K> {
    pub fn new(kind: K, span: Span) -> Spec<K> {
        Spec {
            kind,
            span,
            focus: span,
            site: span,
        }
    }
}

/// The checker's state: what lowering a layer statement
/// ([`Registry::lower`]) reports into and evaluates counts against.
pub struct Checker {
    errors: Vec<Diagnostic>,
    /// Parameter values, by name, with where each was declared.
    params: HashMap<String, (i64, Span)>,
    param_order: Vec<String>,
    /// Every `param` in the file, to tell "declared later" from "unknown".
    declared_later: HashMap<String, Span>,
}

impl Checker {
    fn run<K: Registry>(&mut self, program: &Program, options: &CheckOptions) -> Option<Model<K>> {
        if program.statements.is_empty() {
            self.errors.push(
                Diagnostic::error("the file defines no model")
                    .note("it has no statements, only blank lines or comments")
                    .help("a model is a list of layers, for example: `input 28x28x1; conv 32 3x3 relu; pool 2; dense 10 softmax`"),
            );
            return None;
        }
        for s in &program.statements {
            if let Statement::Param { name, .. } = &s.node {
                self.declared_later.entry(name.node.clone()).or_insert(name.span);
            }
        }
        self.check_overrides(options);

        let Walk {
            name,
            input,
            layers,
            complete,
        } = self.walk(program, options);

        let input = self.input_shape(input.as_ref(), options);
        if layers.is_empty() && self.errors.is_empty() {
            self.errors.push(
                Diagnostic::error("the model has no layers")
                    .help("a model is a list of layers, for example: `input 28x28x1; conv 32 3x3 relu; pool 2; dense 10 softmax`"),
            );
        }
        self.check_softmax(&layers);
        if !complete {
            // A layer with a bad count is missing: shapes after it would be
            // wrong, so report what we have rather than cascade.
            return None;
        }
        let layers = self.propagate(input?, &layers)?;
        if !self.weights_fit(&layers) {
            return None;
        }
        let name = name.map_or_else(|| options.default_name.clone(), |n| n.node.clone());
        let params = self
            .param_order
            .iter()
            .map(|n| (n.clone(), self.params[n].0))
            .collect();
        let warnings = unused_outputs(&layers);
        Some(Model {
            name,
            input: input?,
            params,
            layers,
            warnings,
        })
    }

    /// Reads the statements in order: the name, the input, parameters
    /// (declared as they come), and each layer lowered by its kind.
    fn walk<'p, K: Registry>(&mut self, program: &'p Program, options: &CheckOptions) -> Walk<'p, K> {
        let mut walk = Walk {
            name: None,
            input: None,
            layers: Vec::new(),
            complete: true,
        };
        let mut first_layer: Option<Span> = None;
        let mut expander = Expander::new(&program.statements, self);

        for statement in &program.statements {
            let span = statement.span;
            match &statement.node {
                Statement::Model(n) => match walk.name {
                    Some(first) => self.errors.push(
                        Diagnostic::error("the model is named twice")
                            .label(span, "second `model` line")
                            .label(first.span, "first named here"),
                    ),
                    None => walk.name = Some(n),
                },
                Statement::Input(dims) => {
                    if let Some(first) = &walk.input {
                        self.errors.push(
                            Diagnostic::error("duplicate `input`")
                                .label(span, "second `input` line")
                                .label(first.span, "input first given here")
                                .help("a model has one input; remove one of the lines"),
                        );
                    } else {
                        if let Some(layer) = first_layer {
                            self.errors.push(
                                Diagnostic::error("`input` must come before the first layer")
                                    .label(span, "input given here")
                                    .label(layer, "first layer")
                                    .help("move the `input` line to the top of the file"),
                            );
                        }
                        // Used even when misplaced, so that its absence is
                        // not reported as well.
                        walk.input = Some(dims.clone());
                    }
                }
                Statement::Param { name, value } => self.declare(name, value, options),
                Statement::Block(_) => {}
                other => {
                    first_layer.get_or_insert(span);
                    expander.statement(other, span, self);
                }
            }
        }
        walk.complete = expander.complete;
        walk.layers = expander.out;
        walk
    }

    /// Binds a block's parameters for one call, shadowing any `param` of
    /// the same name; returns what they shadowed, for [`Self::unbind_params`].
    pub(super) fn bind_params(
        &mut self,
        bindings: Vec<(String, i64, Span)>,
    ) -> Vec<(String, Option<(i64, Span)>)> {
        bindings
            .into_iter()
            .map(|(name, value, span)| {
                let old = self.params.insert(name.clone(), (value, span));
                (name, old)
            })
            .collect()
    }

    pub(super) fn unbind_params(&mut self, shadowed: Vec<(String, Option<(i64, Span)>)>) {
        for (name, old) in shadowed.into_iter().rev() {
            match old {
                Some(old) => self.params.insert(name, old),
                None => self.params.remove(&name),
            };
        }
    }

    /// Refuses a model whose weights no GPU binding could hold.
    fn weights_fit<K: Registry>(&mut self, layers: &[Layer<K>]) -> bool {
        let weights: u64 = layers.iter().map(|l| l.params().total() as u64).sum();
        if weights * 4 > MAX_TENSOR_BYTES {
            self.errors.push(
                Diagnostic::error(format!(
                    "the model's weights would take {}",
                    human_bytes(weights as u128 * 4)
                ))
                .note(format!(
                    "{weights} parameters; cnnc keeps all weights in one GPU buffer of at most {}",
                    human_bytes(MAX_TENSOR_BYTES as u128)
                ))
                .help("use fewer filters or units"),
            );
            return false;
        }
        true
    }

    fn check_overrides(&mut self, options: &CheckOptions) {
        for (name, _) in &options.overrides {
            if !self.declared_later.contains_key(name) {
                let mut declared: Vec<&str> = self.declared_later.keys().map(String::as_str).collect();
                declared.sort_unstable();
                let mut d = Diagnostic::error(format!("`--set {name}=…` names no parameter of this model"));
                d = if declared.is_empty() {
                    d.help("this model declares no parameters; declare one with `param NAME = VALUE`")
                } else {
                    d.note(format!("its parameters are: {}", declared.join(", ")))
                };
                if let Some(s) = crate::diagnostic::closest(name, declared.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.errors.push(d);
            }
        }
    }

    fn declare(&mut self, name: &Spanned<String>, value: &Spanned<Expr>, options: &CheckOptions) {
        if let Some((_, first)) = self.params.get(&name.node) {
            self.errors.push(
                Diagnostic::error(format!("parameter `{}` is declared twice", name.node))
                    .label(name.span, "declared again here")
                    .label(*first, "first declared here"),
            );
            return;
        }
        let overridden = options.overrides.iter().rev().find(|(n, _)| *n == name.node);
        let value = match overridden {
            Some((_, v)) => Some(*v),
            None => self.eval(value),
        };
        if let Some(v) = value {
            self.params.insert(name.node.clone(), (v, name.span));
            self.param_order.push(name.node.clone());
        }
    }

    /// Evaluates an integer expression with overflow and division checks.
    pub fn eval(&mut self, expr: &Spanned<Expr>) -> Option<i64> {
        match &expr.node {
            Expr::Int(v) => Some(*v),
            Expr::Param(name) => {
                if let Some((v, _)) = self.params.get(name) {
                    return Some(*v);
                }
                let mut d = Diagnostic::error(format!("unknown parameter `{name}`"))
                    .label(expr.span, "not declared before this point");
                if let Some(later) = self.declared_later.get(name) {
                    d = d
                        .label(*later, "declared here, after its use")
                        .help("declare a parameter before the first line that uses it");
                } else {
                    let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
                    d = match crate::diagnostic::closest(name, known.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!("declare it first: `param {name} = 32`")),
                    };
                }
                self.errors.push(d);
                None
            }
            Expr::Binary { op, lhs, rhs } => {
                let (a, b) = (self.eval(lhs)?, self.eval(rhs)?);
                let result = match op {
                    BinOp::Add => a.checked_add(b),
                    BinOp::Sub => a.checked_sub(b),
                    BinOp::Mul => a.checked_mul(b),
                    BinOp::Div if b == 0 => {
                        self.errors.push(
                            Diagnostic::error("division by zero")
                                .label(rhs.span, "this is 0")
                                .label(expr.span, "in this expression"),
                        );
                        return None;
                    }
                    BinOp::Div => a.checked_div(b),
                };
                let result = result.filter(|r| r.unsigned_abs() <= i32::MAX as u64);
                if result.is_none() {
                    self.errors.push(Diagnostic::error("integer overflow").label(
                        expr.span,
                        format!("{a} {} {b} does not fit in 31 bits", op.symbol()),
                    ));
                }
                result
            }
        }
    }

    /// A count (filters, units): an expression that must be at least 1.
    pub fn count(&mut self, expr: &Spanned<Expr>, what: &str) -> Option<usize> {
        let value = self.eval(expr)?;
        if value < 1 {
            let shown = match expr.node {
                Expr::Int(_) => format!("{value}"),
                _ => format!("this evaluates to {value}"),
            };
            self.errors.push(
                Diagnostic::error(format!("{what} must be at least 1"))
                    .label(expr.span, shown)
                    .help(format!("a layer needs one or more {what}")),
            );
            return None;
        }
        Some(value as usize)
    }

    pub fn positive(&mut self, value: &Spanned<u64>, what: &str) -> Option<usize> {
        if value.node == 0 {
            self.errors
                .push(Diagnostic::error(format!("{what} must be at least 1")).label(value.span, "0"));
            return None;
        }
        Some(value.node as usize)
    }

    pub fn window(&mut self, value: &Spanned<[u64; 2]>, what: &str) -> Option<[usize; 2]> {
        if value.node.contains(&0) {
            self.errors.push(
                Diagnostic::error(format!("a {what} cannot have a zero size")).label(value.span, "0 here"),
            );
            return None;
        }
        Some([value.node[0] as usize, value.node[1] as usize])
    }

    pub fn l2(&mut self, value: &Option<Spanned<f64>>) -> f32 {
        match value {
            Some(v) if v.node < 0.0 => {
                self.errors.push(
                    Diagnostic::error("the l2 factor cannot be negative")
                        .label(v.span, format!("{}", v.node)),
                );
                0.0
            }
            Some(v) => v.node as f32,
            None => 0.0,
        }
    }

    /// Reports a problem found while lowering a statement.
    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
    }

    fn input_shape(&mut self, input: Option<&Spanned<[u64; 3]>>, options: &CheckOptions) -> Option<Shape> {
        let dims = match (input, options.input) {
            (Some(given), Some(flag)) if given.node.map(|d| d as usize) != flag => {
                self.errors.push(
                    Diagnostic::error(format!(
                        "the model's input is {}x{}x{}, but the command line gives {}x{}x{}",
                        given.node[0], given.node[1], given.node[2], flag[0], flag[1], flag[2]
                    ))
                    .label(given.span, "input declared here")
                    .help("remove `--input`, or remove the `input` line to take the shape from the command line"),
                );
                return None;
            }
            (Some(given), _) => {
                if given.node.contains(&0) {
                    self.errors.push(
                        Diagnostic::error("an input size cannot be 0")
                            .label(given.span, "height x width x channels"),
                    );
                    return None;
                }
                given.node.map(|d| d as usize)
            }
            (None, Some(flag)) => flag,
            (None, None) => {
                self.errors.push(
                    Diagnostic::error("the model has no input shape")
                        .help("add a line such as `input 28x28x1` (height x width x channels) at the top, or pass `--input 28x28x1`; `train` takes the shape from the dataset"),
                );
                return None;
            }
        };
        Some(Shape::Image {
            h: dims[0],
            w: dims[1],
            c: dims[2],
        })
    }

    /// `softmax` belongs on the last layer only: the loss applies it.
    fn check_softmax<K: Registry>(&mut self, layers: &[Wired<K>]) {
        let count = layers.len();
        for (i, spec) in layers.iter().map(|w| &w.spec).enumerate() {
            if spec.kind.rule().activation() == Activation::SOFTMAX && i + 1 != count {
                self.errors.push(
                    Diagnostic::error("`softmax` is only allowed on the last layer")
                        .label(spec.span, "softmax here")
                        .label(layers[count - 1].spec.span, "the last layer")
                        .help("softmax turns scores into class probabilities; use `relu` (or another activation) on inner layers"),
                );
            }
        }
    }

    /// Walks the layers from the input, computing every shape; stops at the
    /// first layer whose input cannot be known.
    fn propagate<K: Registry>(&mut self, input: Shape, wired: &[Wired<K>]) -> Option<Vec<Layer<K>>> {
        let mut layers: Vec<Layer<K>> = Vec::new();
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        // The layer each spec became (after any flatten put before it).
        let mut made: Vec<usize> = Vec::new();
        let operand = |made: &[usize], s: Source| match s {
            Source::Input => Operand::Input,
            Source::Spec(k) => Operand::Layer(made[k]),
        };
        for w in wired {
            let spec = &w.spec;
            let mut from = operand(&made, w.from);
            let more: Vec<(Operand, Span)> = w
                .more
                .iter()
                .map(|&(s, span)| (operand(&made, s), span))
                .collect();
            let shape_of = |layers: &[Layer<K>], o: Operand| match o {
                Operand::Input => input,
                Operand::Layer(j) => layers[j].output,
            };
            if let Some(kind) = spec.kind.prelude(shape_of(&layers, from)) {
                let shape = shape_of(&layers, from);
                let site = Site {
                    span: spec.span,
                    focus: spec.span,
                    from: producer(&layers, from),
                    more: Vec::new(),
                };
                let output = kind.rule().output(&[shape], &site).ok()?;
                push_layer(
                    &mut layers,
                    &mut counts,
                    kind,
                    vec![from],
                    shape,
                    output,
                    (spec.span, spec.site),
                );
                from = Operand::Layer(layers.len() - 1);
            }
            let mut inputs = vec![from];
            inputs.extend(more.iter().map(|m| m.0));
            let shapes: Vec<Shape> = inputs.iter().map(|&o| shape_of(&layers, o)).collect();
            let site = Site {
                span: spec.span,
                focus: spec.focus,
                from: producer(&layers, from),
                more: more
                    .iter()
                    .map(|&(o, span)| (producer(&layers, o), span))
                    .collect(),
            };
            let output = match spec.kind.rule().output(&shapes, &site) {
                Ok(output) => output,
                Err(d) => {
                    self.errors.push(d);
                    return None;
                }
            };
            if !self.fits(&spec.kind, shapes[0], output, spec.span) {
                return None;
            }
            let kind = spec.kind.clone();
            push_layer(
                &mut layers,
                &mut counts,
                kind,
                inputs,
                shapes[0],
                output,
                (spec.span, spec.site),
            );
            made.push(layers.len() - 1);
        }
        Some(layers)
    }

    /// Refuses tensors that no GPU binding could hold (and whose sizes
    /// would overflow 64-bit arithmetic further on).
    fn fits<K: Registry>(&mut self, kind: &K, input: Shape, output: Shape, span: Span) -> bool {
        let elements = |s: Shape| s.dims().iter().fold(1u128, |a, &d| a.saturating_mul(d as u128));
        let weights = kind.rule().largest_weight(input);
        let limit = MAX_TENSOR_BYTES as u128 / 4;
        let (what, n) = if weights > limit {
            ("weights", weights)
        } else if elements(output) > limit {
            ("output for one image", elements(output))
        } else {
            return true;
        };
        self.errors.push(
            Diagnostic::error(format!(
                "this layer's {what} would take {} of memory",
                human_bytes(n * 4)
            ))
            .label(span, format!("{n} values of f32"))
            .note(format!(
                "cnnc holds every tensor in one GPU buffer of at most {}",
                human_bytes(limit * 4)
            ))
            .help("use fewer filters or units, or a smaller input"),
        );
        false
    }
}

/// A warning for each layer (but the last) whose output nothing reads:
/// it costs time and memory and changes nothing. One per line of source,
/// however many times a block repeats it.
fn unused_outputs<K>(layers: &[Layer<K>]) -> Vec<Diagnostic> {
    let mut read = vec![false; layers.len()];
    for operand in layers.iter().flat_map(|l| &l.inputs) {
        if let Operand::Layer(j) = operand {
            read[*j] = true;
        }
    }
    let mut seen = std::collections::HashSet::new();
    layers[..layers.len().saturating_sub(1)]
        .iter()
        .zip(&read)
        .filter(|(l, read)| !**read && seen.insert(l.span))
        .map(|(l, _)| {
            Diagnostic::warning(format!("the output of `{}` is never used", l.name))
                .label(l.span, "nothing reads this layer's output")
                .help("name it and read it (`add`, `concat`, `from NAME`), or remove the line")
        })
        .collect()
}

/// The layer that produced a tensor; `None` for the model's input.
fn producer<K: Registry>(layers: &[Layer<K>], operand: Operand) -> Option<Producer<'_>> {
    match operand {
        Operand::Input => None,
        Operand::Layer(j) => Some(layers[j].producer()),
    }
}

/// What the statements say, before shapes: see [`Checker::walk`].
struct Walk<'p, K> {
    /// The first `model` line's name.
    name: Option<&'p Spanned<String>>,
    /// The first `input` line, even when misplaced.
    input: Option<Spanned<[u64; 3]>>,
    /// Every layer, wired, in order (blocks and repeats expanded).
    layers: Vec<Wired<K>>,
    /// Whether every layer statement could be made.
    complete: bool,
}

fn push_layer<K: Registry>(
    layers: &mut Vec<Layer<K>>,
    counts: &mut HashMap<&'static str, usize>,
    kind: K,
    inputs: Vec<Operand>,
    input: Shape,
    output: Shape,
    (span, site): (Span, Span),
) {
    let base = kind.rule().stem();
    let n = counts.entry(base).or_insert(0);
    *n += 1;
    layers.push(Layer {
        name: format!("{base}{n}"),
        kind,
        inputs,
        input,
        output,
        span,
        site,
    });
}
