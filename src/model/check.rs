//! [`Program`] to [`Model`]: resolve parameters, propagate shapes, cost
//! every layer, and report every problem with its place in the source.

use std::collections::{HashMap, HashSet};

use super::expand::{Expander, Source, Wired};
use super::{KindRule, Layer, Model, Operand, Producer, Registry, Shape, Site};
use crate::activation::Activation;
use crate::diagnostic::{Diagnostic, Diagnostics, Span, Spanned};
use crate::syntax::{Expr, Program, Statement};
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
        failed_params: HashSet::new(),
        uses: Vec::new(),
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
    /// The block uses and repetitions it was made in, outermost first,
    /// for its shape errors; set by the expander.
    pub(super) uses: Vec<Use>,
}

impl<K> Spec<K> {
    pub fn new(kind: K, span: Span) -> Spec<K> {
        Spec {
            kind,
            span,
            focus: span,
            site: span,
            uses: Vec::new(),
        }
    }

    /// The same, its shape errors pointing at `focus` (see [`Spec::focus`]).
    pub fn focused(self, focus: Span) -> Spec<K> {
        Spec { focus, ..self }
    }
}

/// The checker's state: what lowering a layer statement
/// ([`Registry::lower`]) reports into and evaluates counts against.
pub struct Checker {
    errors: Vec<Diagnostic>,
    /// Parameter values, by name, with where each was declared.
    pub(super) params: HashMap<String, (i64, Span)>,
    param_order: Vec<String>,
    /// Every `param` in the file, to tell "declared later" from "unknown".
    pub(super) declared_later: HashMap<String, Span>,
    /// Parameters whose value could not be computed (and was reported):
    /// their uses are not reported again.
    pub(super) failed_params: HashSet<String>,
    /// The uses of blocks (and repetitions) that the statement being
    /// checked is inside, outermost first: each error gets their labels.
    pub(super) uses: Vec<Use>,
}

/// Where a layer statement is being expanded: a block's use (its call) or
/// one repetition of a `repeat`, as a label for the errors that arise there.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Use {
    pub span: Span,
    pub label: String,
}

/// `d` with a label on each use it arose in, innermost first.
pub(super) fn in_uses(mut d: Diagnostic, uses: &[Use]) -> Diagnostic {
    for (i, u) in uses.iter().rev().enumerate() {
        let within = if i == 0 { "in" } else { "which is in" };
        d = d.label(u.span, format!("{within} {}", u.label));
    }
    d
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
        if !self.ends_in_scores(&layers) {
            return None;
        }
        if !self.weights_fit(&layers) {
            return None;
        }
        let name = name.map_or_else(|| options.default_name.clone(), |n| n.node.clone());
        let params = self
            .param_order
            .iter()
            .map(|n| (n.clone(), self.params[n].0))
            .collect();
        let warnings = super::warnings::unused_outputs(&layers, &super::warnings::labels(program));
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

    /// A model's last layer gives its class scores, a vector: one that
    /// ends with an image cannot be trained or evaluated (what `compile`
    /// and `train` refuse, `check` and the language server refuse too).
    fn ends_in_scores<K: Registry>(&mut self, layers: &[Layer<K>]) -> bool {
        let Some(last) = layers.last() else {
            return true;
        };
        if let Shape::Flat(_) = last.output {
            return true;
        }
        self.errors.push(
            Diagnostic::error(format!(
                "the model ends with an image ({}), not class scores",
                last.output
            ))
            .label(last.span, format!("`{}` outputs {}, the model's last tensor", last.name, last.output))
            .help("end the model with its class scores, such as `dense 10 softmax` (or `globalpool` when the last conv has one filter per class)"),
        );
        false
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
        match value {
            Some(v) => {
                self.params.insert(name.node.clone(), (v, name.span));
                self.param_order.push(name.node.clone());
            }
            None => {
                self.failed_params.insert(name.node.clone());
            }
        }
    }

    /// Reports a problem found while lowering a statement.
    /// Inside a block or a repetition, the diagnostic also says which use.
    pub fn error(&mut self, diagnostic: Diagnostic) {
        let d = in_uses(diagnostic, &self.uses);
        self.errors.push(d);
    }

    /// A diagnostic that names the uses it concerns itself (a block that
    /// uses itself), without the labels of [`Self::error`].
    pub(super) fn error_about_uses(&mut self, diagnostic: Diagnostic) {
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
                let d = Diagnostic::error("`softmax` is only allowed on the last layer")
                    .label(spec.span, "softmax here")
                    .label(layers[count - 1].spec.span, "the last layer")
                    .help("softmax turns scores into class probabilities; use `relu` (or another activation) on inner layers");
                self.errors.push(in_uses(d, &spec.uses));
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
                    self.errors.push(in_uses(d, &spec.uses));
                    return None;
                }
            };
            if !self.fits(spec, shapes[0], output) {
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
    fn fits<K: Registry>(&mut self, spec: &Spec<K>, input: Shape, output: Shape) -> bool {
        let (kind, span) = (&spec.kind, spec.span);
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
        let d = Diagnostic::error(format!(
            "this layer's {what} would take {} of memory",
            human_bytes(n * 4)
        ))
        .label(span, format!("{n} values of f32"))
        .note(format!(
            "cnnc holds every tensor in one GPU buffer of at most {}",
            human_bytes(limit * 4)
        ))
        .help("use fewer filters or units, or a smaller input");
        self.errors.push(in_uses(d, &spec.uses));
        false
    }
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
    // `relu6_2`, not `relu62`: a stem that ends in a digit keeps it apart.
    let sep = if base.ends_with(|c: char| c.is_ascii_digit()) {
        "_"
    } else {
        ""
    };
    layers.push(Layer {
        name: format!("{base}{sep}{n}"),
        kind,
        inputs,
        input,
        output,
        span,
        site,
    });
}
