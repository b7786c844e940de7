//! The layer kinds: one file each, saying everything about the kind: its
//! settings and how a statement makes them, its shape rule and
//! diagnostics, parameter tensors, FLOPs and description
//! ([`model::KindRule`]), its kernels ([`codegen::Rule`]), its CPU
//! reference ([`reference::Rule`]), its ONNX nodes ([`onnx::Lower`]), its
//! PyTorch module ([`torch::Lower`]) and the feature order it reads and
//! writes vectors in those exports ([`layout::Order`]), with its tests.
//!
//! [`registry!`] below lists the kinds: it makes [`LayerKind`], the enum
//! of every kind's settings that a [`Model`]'s layers hold, and the one
//! dispatch from a layer to its kind. Every stage is written over
//! [`model::Registry`] and reaches the kinds only through it, so that this
//! module sits above the stages it uses.
//!
//! Adding a kind: a file here implementing [`Kind`]'s traits and
//! [`Syntax`] (its signature), its templates in `shaders/`, a line in
//! [`registry!`], and its keyword in the grammar's `kind_word` (and the
//! editors' highlighting, held to it by a test). See the README's "How it
//! is built".

pub mod activation;
pub mod add;
pub mod batchnorm;
pub mod concat;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod globalpool;
pub mod pad;
pub mod pool;

use crate::codegen;
use crate::diagnostic::Span;
use crate::export::{layout, onnx, torch};
use crate::model::{self, Checker, KindRule, Shape, Spec};
use crate::reference;
use crate::syntax::Statement;
use crate::syntax::signature::{LayerStatement, Signature};

/// Everything a kind is, as one trait: each stage's rule.
pub trait Kind:
    KindRule
    + codegen::Rule<LayerKind>
    + reference::Rule<LayerKind>
    + onnx::Lower<LayerKind>
    + torch::Lower<LayerKind>
    + layout::Order<LayerKind>
{
    /// A layer to insert before one of this kind for an input of this
    /// shape (a dense layer flattens an image), if any.
    fn prelude(&self, _input: Shape) -> Option<LayerKind> {
        None
    }
}

/// How a kind is written: its signature, and its settings from a statement
/// its signature read (with the checker, which evaluates expressions).
pub trait Syntax {
    const SIGNATURE: Signature;

    fn lower(statement: &LayerStatement, span: Span, cx: &mut Checker) -> Option<Spec<LayerKind>>;
}

/// A model of cnnc's kinds.
pub type Model = model::Model<LayerKind>;
/// A layer of cnnc's kinds.
pub type Layer = model::Layer<LayerKind>;

/// The kinds, each `Variant(settings type)`: makes [`LayerKind`] and its
/// dispatch.
macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident($settings:ty),)*) => {
        /// What a layer computes, with its settings: one variant per kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum LayerKind {
            $($(#[$doc])* $variant($settings),)*
        }

        impl LayerKind {
            /// The layer's kind, to ask it anything.
            pub fn kind(&self) -> &(dyn Kind + 'static) {
                match self {
                    $(LayerKind::$variant(settings) => settings,)*
                }
            }
        }

        /// Every kind's signature, in the registry's order: what the
        /// parser reads layer statements with.
        pub const SIGNATURES: &[&Signature] = &[$(&<$settings as Syntax>::SIGNATURE,)*];

        /// The layer a statement read by `statement.kind`'s signature asks for.
        fn lower_layer(statement: &LayerStatement, span: Span, cx: &mut Checker) -> Option<Spec<LayerKind>> {
            $(if statement.kind == <$settings as Syntax>::SIGNATURE.name() {
                return <$settings as Syntax>::lower(statement, span, cx);
            })*
            unreachable!("a statement is read by one of SIGNATURES")
        }

        $(impl From<$settings> for LayerKind {
            fn from(settings: $settings) -> LayerKind {
                LayerKind::$variant(settings)
            }
        })*
    };
}

registry! {
    /// A 2-D convolution.
    Conv(conv::Conv),
    /// Max or average pooling over windows.
    Pool(pool::Pool),
    /// Fully connected.
    Dense(dense::Dense),
    /// An image read as one vector per sample.
    Flatten(flatten::Flatten),
    /// Inverted dropout.
    Dropout(dropout::Dropout),
    /// Per-channel normalisation.
    BatchNorm(batchnorm::BatchNorm),
    /// An activation as a layer of its own.
    Activation(activation::ActivationLayer),
    /// The elementwise sum of tensors of one shape.
    Add(add::Add),
    /// Tensors joined along the channels.
    Concat(concat::Concat),
    /// One value per channel over the whole image.
    GlobalPool(globalpool::GlobalPool),
    /// Zeros around an image.
    Pad(pad::Pad),
}

impl model::Registry for LayerKind {
    type Kind = dyn Kind;

    fn rule(&self) -> &(dyn Kind + 'static) {
        self.kind()
    }

    fn prelude(&self, input: Shape) -> Option<LayerKind> {
        self.kind().prelude(input)
    }

    fn lower(statement: &Statement, span: Span, cx: &mut Checker) -> Option<Spec<LayerKind>> {
        match statement {
            Statement::Layer(layer) => lower_layer(layer, span, cx),
            Statement::Model(_)
            | Statement::Input(_)
            | Statement::Param { .. }
            | Statement::Wired { .. }
            | Statement::Block(_)
            | Statement::Call { .. }
            | Statement::Repeat { .. } => unreachable!("not a layer statement (see `model::expand`)"),
        }
    }
}

/// ` relu` after a description, or nothing for `linear`.
fn suffix_activation(a: crate::activation::Activation) -> String {
    match a {
        crate::activation::Activation::LINEAR => String::new(),
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
    use crate::activation::Activation;
    use crate::model::{Operand, Padding, PoolKind, Site};

    fn layer(kind: LayerKind, input: Shape) -> Layer {
        let site = Site {
            span: Span::new(0, 0),
            focus: Span::new(0, 0),
            from: None,
            more: Vec::new(),
        };
        let output = kind.kind().output(&[input], &site).expect("a shape");
        Layer {
            name: kind.kind().stem().to_string(),
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
        let conv = conv::Conv {
            filters: 4,
            kernel: [3, 3],
            stride: 1,
            padding: Padding::Valid,
            activation: Activation::named("relu").unwrap(),
            l2: 0.0,
            groups: 1,
        };
        let l = layer(conv.into(), IMAGE);
        assert_eq!(l.output, Shape::Image { h: 6, w: 6, c: 4 });
        assert_eq!(l.params().trainable, 3 * 3 * 3 * 4 + 4);
        assert_eq!(l.flops(), 2 * 6 * 6 * 4 * 3 * 3 * 3);
        assert_eq!(l.describe(), "conv 4 3x3 relu");
    }

    #[test]
    fn dense_flattens_an_image_first() {
        let dense: LayerKind = dense::Dense {
            units: 10,
            activation: Activation::SOFTMAX,
            l2: 0.5,
        }
        .into();
        assert_eq!(
            dense.kind().prelude(IMAGE),
            Some(flatten::Flatten { implicit: true }.into())
        );
        assert_eq!(dense.kind().prelude(Shape::Flat(4)), None);
        let l = layer(dense, Shape::Flat(192));
        assert_eq!(l.params().total(), 192 * 10 + 10);
        assert_eq!(l.describe(), "dense 10 softmax l2 0.5");
    }

    #[test]
    fn layers_without_weights() {
        let flatten = layer(flatten::Flatten { implicit: true }.into(), IMAGE);
        assert_eq!(flatten.output, Shape::Flat(192));
        assert_eq!(flatten.activation_bytes(), 0);
        assert_eq!(flatten.describe(), "flatten (implicit)");
        let bn = layer(batchnorm::BatchNorm.into(), IMAGE);
        assert_eq!((bn.params().trainable, bn.params().non_trainable), (6, 6));
        let leaky = Activation::named("leaky_relu").unwrap();
        let relu = layer(activation::ActivationLayer(leaky).into(), IMAGE);
        assert_eq!(
            (relu.name.as_str(), relu.kind_name()),
            ("leaky_relu", "activation")
        );
        assert_eq!(relu.activation(), leaky);
    }

    #[test]
    fn a_sum_keeps_its_shape_and_costs_nothing() {
        let add = layer(add::Add.into(), IMAGE);
        assert_eq!(add.output, IMAGE);
        assert_eq!((add.params().total(), add.flops()), (0, 0));
        assert_eq!((add.kind_name(), add.describe()), ("add", "add".to_string()));
        assert_eq!(add.activation_bytes(), 4 * 192);
    }

    #[test]
    fn a_flat_input_to_a_pool_is_located() {
        let pool = pool::Pool {
            kind: PoolKind::Max,
            window: [2, 2],
            stride: 2,
        };
        let site = Site {
            span: Span::new(0, 0),
            focus: Span::new(0, 0),
            from: None,
            more: Vec::new(),
        };
        assert!(pool.output(&[Shape::Flat(10)], &site).is_err());
        let ok = pool.output(&[IMAGE], &site);
        assert_eq!(ok.ok(), Some(Shape::Image { h: 4, w: 4, c: 3 }));
    }
}
