//! One file per layer kind: what the kind means in the model. Each file
//! holds the kind's settings (its part of [`LayerKind`]), how its statement
//! becomes a layer (`lower`), and its [`KindRule`]: the output shape with the
//! located diagnostics when there is none, its parameters as Keras counts
//! them, its FLOPs, its `summary` description and its one-word name.
//!
//! `check` walks the statements and asks these files; `Layer`'s methods
//! dispatch to them through [`of`]. Adding a kind adds a file here, a
//! [`LayerKind`] variant, and an arm in [`of`] (and in `lower` once the
//! language writes it).

pub mod activation;
pub mod add;
pub mod batchnorm;
pub mod concat;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod globalpool;
pub mod pool;

use super::check::Checker;
use super::{Activation, Layer, LayerKind, ParamCount, Shape};
use crate::diagnostic::{Diagnostic, Span};
use crate::syntax::Statement;

/// What a layer kind means in the model, for the layers of that kind: each
/// method is handed a layer (or its [`LayerKind`]) of the implementing kind.
pub trait KindRule {
    /// The kind as one word (`conv`, `pool`, …), as `--json` prints it.
    fn kind_name(&self) -> &'static str;

    /// The stem of its layers' names, numbered from 1 among layers of one
    /// stem (`conv1`, `conv2`); checkpoint weight names derive from it.
    fn stem(&self, _kind: &LayerKind) -> &'static str {
        self.kind_name()
    }

    /// A layer to insert before this one for an input of this shape (a
    /// `dense` flattens an image), if any.
    fn prelude(&self, _input: Shape) -> Option<LayerKind> {
        None
    }

    /// The output shape for its inputs' shapes (one, but for `add` and
    /// `concat`), or the located reason there is none.
    fn output(&self, kind: &LayerKind, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic>;

    /// Entries of its largest weight tensor, saturating: checked against
    /// the GPU's binding limit before any count is made in `usize`.
    fn largest_weight(&self, _kind: &LayerKind, _input: Shape) -> u128 {
        0
    }

    /// Its parameters, split as Keras splits them.
    fn params(&self, _layer: &Layer) -> ParamCount {
        ParamCount::default()
    }

    /// Forward FLOPs for one sample: 2 x multiply-accumulates. Layers
    /// without multiply-accumulates (pooling, activations, sums) count 0.
    fn flops(&self, _layer: &Layer) -> u64 {
        0
    }

    /// The activation applied at its output.
    fn activation(&self, _kind: &LayerKind) -> Activation {
        Activation::Linear
    }

    /// Its L2 factor (`l2 F` on a conv or dense), or 0.
    fn l2(&self, _kind: &LayerKind) -> f32 {
        0.0
    }

    /// Bytes of its output for one sample (f32).
    fn activation_bytes(&self, layer: &Layer) -> u64 {
        4 * layer.output.elements() as u64
    }

    /// A short description of its settings, as `summary` prints it.
    fn describe(&self, kind: &LayerKind) -> String;
}

/// The model rule of a layer kind.
pub fn of(kind: &LayerKind) -> &'static dyn KindRule {
    match kind {
        LayerKind::Conv(_) => &conv::ConvRule,
        LayerKind::Pool(_) => &pool::PoolRule,
        LayerKind::Dense(_) => &dense::DenseRule,
        LayerKind::Flatten { .. } => &flatten::FlattenRule,
        LayerKind::Dropout { .. } => &dropout::DropoutRule,
        LayerKind::BatchNorm => &batchnorm::BatchNormRule,
        LayerKind::Activation(_) => &activation::ActivationRule,
        LayerKind::Add => &add::AddRule,
        LayerKind::Concat => &concat::ConcatRule,
        LayerKind::GlobalPool(_) => &globalpool::GlobalPoolRule,
    }
}

/// A layer statement with its counts evaluated, before shapes are known.
pub(super) struct Spec {
    pub kind: LayerKind,
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
    pub uses: Vec<super::check::Use>,
}

impl Spec {
    pub(super) fn new(kind: LayerKind, span: Span) -> Spec {
        Spec {
            kind,
            span,
            focus: span,
            site: span,
            uses: Vec::new(),
        }
    }
}

/// The layer a statement asks for, its counts evaluated by `cx`; `None`
/// after reporting why when one is bad.
pub(super) fn lower(statement: &Statement, span: Span, cx: &mut Checker) -> Option<Spec> {
    match statement {
        Statement::Conv(c) => conv::lower(c, span, cx),
        Statement::Pool(p) => pool::lower(p, span, cx),
        Statement::Dense(d) => dense::lower(d, span, cx),
        Statement::Flatten => Some(flatten::lower(span)),
        Statement::Dropout(rate) => dropout::lower(rate, span, cx),
        Statement::BatchNorm => Some(batchnorm::lower(span)),
        Statement::Activation(a) => Some(activation::lower(*a, span)),
        Statement::Model(_)
        | Statement::Input(_)
        | Statement::Param { .. }
        | Statement::Add(_)
        | Statement::Concat(_)
        | Statement::Wired { .. }
        | Statement::Block(_)
        | Statement::Call { .. }
        | Statement::Repeat { .. } => unreachable!("not a layer statement in lower (see `expand`)"),
        Statement::GlobalPool(kind) => Some(Spec::new(LayerKind::GlobalPool(*kind), span)),
    }
}

/// Where a layer stands, for the diagnostics of its shape rule.
pub struct Site<'a> {
    /// The statement that made the layer.
    pub span: Span,
    /// The part of it a shape error points at (see `Spec::focus`).
    pub focus: Span,
    /// The layer whose output it reads; `None` when it reads the input.
    pub from: Option<&'a Layer>,
    /// Each further input (of an `add` or a `concat`): the layer it comes
    /// from (`None`: the model's input), and where the statement names it.
    pub more: Vec<(Option<&'a Layer>, Span)>,
}

/// The height and width of an image input, or why a flat one will not do
/// for a `what` layer.
fn image_input(input: Shape, what: &str, site: &Site) -> Result<(usize, usize), Diagnostic> {
    match input {
        Shape::Image { h, w, .. } => Ok((h, w)),
        Shape::Flat(n) => {
            let mut d = Diagnostic::error(format!(
                "`{what}` needs an image (HxWxC) input, but its input is a vector of {n}"
            ))
            .label(site.span, format!("{what} on a flat input"));
            if let Some(layer) = site.from {
                d = d.label(layer.span, format!("`{}` outputs a vector of {n}", layer.name));
            }
            Err(d.help(format!(
                "put `{what}` layers before the first `flatten` or `dense`"
            )))
        }
    }
}

/// A kernel or pool window (`what`, moved by `stride`) that does not fit
/// an `h` x `w` input, with the arithmetic.
fn window_too_large(
    (h, w): (usize, usize),
    window: [usize; 2],
    stride: usize,
    what: &str,
    help: &str,
    site: &Site,
) -> Diagnostic {
    // Without padding: floor((size - window) / stride) + 1 where it fits.
    let out = |size: usize, k: usize| size.checked_sub(k).map_or(0, |rest| rest / stride.max(1) + 1);
    let mut d = Diagnostic::error(format!(
        "a {}x{} {what} does not fit a {h}x{w} input",
        window[0], window[1]
    ))
    .label(
        site.focus,
        format!(
            "{}x{} is larger than {h}x{w}; without padding the output would be {}x{}",
            window[0],
            window[1],
            out(h, window[0]),
            out(w, window[1])
        ),
    );
    if let Some(layer) = site.from {
        d = d.label(layer.span, format!("`{}` outputs {}", layer.name, layer.output));
    }
    d.help(help)
}

/// ` relu` after a description, or nothing for `linear`.
fn suffix_activation(a: Activation) -> String {
    match a {
        Activation::Linear => String::new(),
        a => format!(" {}", a.keyword()),
    }
}

/// ` l2 F` after a description, or nothing without a penalty.
fn suffix_l2(f: f32) -> String {
    if f > 0.0 {
        format!(" l2 {f}")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Conv, Dense, Operand, Padding};

    fn layer(kind: LayerKind, input: Shape) -> Layer {
        let site = Site {
            span: Span::new(0, 0),
            focus: Span::new(0, 0),
            from: None,
            more: Vec::new(),
        };
        let output = of(&kind).output(&kind, &[input], &site).expect("a shape");
        Layer {
            name: of(&kind).stem(&kind).to_string(),
            kind,
            inputs: vec![Operand::Input],
            input,
            output,
            span: Span::new(0, 0),
            site: Span::new(0, 0),
        }
    }

    const IMAGE: Shape = Shape::Image { h: 8, w: 8, c: 3 };

    #[test]
    fn conv_counts_as_keras() {
        let conv = Conv {
            filters: 4,
            kernel: [3, 3],
            stride: 1,
            padding: Padding::Valid,
            activation: Activation::Relu,
            l2: 0.0,
            groups: 1,
        };
        let l = layer(LayerKind::Conv(conv), IMAGE);
        assert_eq!(l.output, Shape::Image { h: 6, w: 6, c: 4 });
        assert_eq!(l.params().trainable, 3 * 3 * 3 * 4 + 4);
        assert_eq!(l.flops(), 2 * 6 * 6 * 4 * 3 * 3 * 3);
        assert_eq!(l.describe(), "conv 4 3x3 relu");
    }

    #[test]
    fn dense_flattens_an_image_first() {
        let dense = LayerKind::Dense(Dense {
            units: 10,
            activation: Activation::Softmax,
            l2: 0.5,
        });
        assert_eq!(
            of(&dense).prelude(IMAGE),
            Some(LayerKind::Flatten { implicit: true })
        );
        assert_eq!(of(&dense).prelude(Shape::Flat(4)), None);
        let l = layer(dense, Shape::Flat(192));
        assert_eq!(l.params().total(), 192 * 10 + 10);
        assert_eq!(l.describe(), "dense 10 softmax l2 0.5");
    }

    #[test]
    fn layers_without_weights() {
        let flatten = layer(LayerKind::Flatten { implicit: true }, IMAGE);
        assert_eq!(flatten.output, Shape::Flat(192));
        assert_eq!(flatten.activation_bytes(), 0);
        assert_eq!(flatten.describe(), "flatten (implicit)");
        let bn = layer(LayerKind::BatchNorm, IMAGE);
        assert_eq!((bn.params().trainable, bn.params().non_trainable), (6, 6));
        let relu = layer(LayerKind::Activation(Activation::LeakyRelu), IMAGE);
        assert_eq!(
            (relu.name.as_str(), relu.kind_name()),
            ("leaky_relu", "activation")
        );
        assert_eq!(relu.activation(), Activation::LeakyRelu);
    }

    #[test]
    fn a_sum_keeps_its_shape_and_costs_nothing() {
        let add = layer(LayerKind::Add, IMAGE);
        assert_eq!(add.output, IMAGE);
        assert_eq!((add.params().total(), add.flops()), (0, 0));
        assert_eq!((add.kind_name(), add.describe()), ("add", "add".to_string()));
        assert_eq!(add.activation_bytes(), 4 * 192);
    }

    #[test]
    fn a_flat_input_to_a_pool_is_located() {
        let pool = LayerKind::Pool(crate::model::Pool {
            kind: crate::model::PoolKind::Max,
            window: [2, 2],
            stride: 2,
        });
        let site = Site {
            span: Span::new(0, 0),
            focus: Span::new(0, 0),
            from: None,
            more: Vec::new(),
        };
        assert!(of(&pool).output(&pool, &[Shape::Flat(10)], &site).is_err());
        let ok = of(&pool).output(&pool, &[IMAGE], &site);
        assert_eq!(ok.ok(), Some(Shape::Image { h: 4, w: 4, c: 3 }));
    }
}
