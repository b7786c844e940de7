//! `dense UNITS [ACT] [l2 F]`: a fully connected layer with bias, as
//! Keras's `Dense`. An image input is flattened first.

use super::{KindRule, Site, Spec};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::check::Checker;
use crate::model::{Activation, Layer, LayerKind, ParamCount, Shape};
use crate::syntax;

/// A dense layer's settings. Its input is `Shape::Flat`; its output is
/// `Shape::Flat(units)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dense {
    /// At least 1.
    pub units: usize,
    pub activation: Activation,
    /// L2 penalty factor on the kernel, 0 if none; never negative.
    pub l2: f32,
}

pub(in crate::model) fn lower(d: &syntax::Dense, span: Span, cx: &mut Checker) -> Option<Spec> {
    let l2 = cx.l2(&d.l2);
    let dense = Dense {
        units: cx.count(&d.units, "units")?,
        activation: d.activation.as_ref().map_or(Activation::Linear, |a| a.node),
        l2,
    };
    Some(Spec::new(LayerKind::Dense(dense), span))
}

fn dense(kind: &LayerKind) -> &Dense {
    let LayerKind::Dense(d) = kind else {
        unreachable!("the dense rule is handed dense layers")
    };
    d
}

pub struct DenseRule;

impl KindRule for DenseRule {
    fn kind_name(&self) -> &'static str {
        "dense"
    }

    /// A dense layer straight after a spatial one reads it flattened.
    fn prelude(&self, input: Shape) -> Option<LayerKind> {
        matches!(input, Shape::Image { .. }).then_some(LayerKind::Flatten { implicit: true })
    }

    fn output(&self, kind: &LayerKind, _inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        Ok(Shape::Flat(dense(kind).units))
    }

    fn largest_weight(&self, kind: &LayerKind, input: Shape) -> u128 {
        let elements = input
            .dims()
            .iter()
            .fold(1u128, |a, &d| a.saturating_mul(d as u128));
        elements.saturating_mul(dense(kind).units as u128)
    }

    fn params(&self, layer: &Layer) -> ParamCount {
        let units = dense(&layer.kind).units;
        ParamCount {
            trainable: layer.input.elements() * units + units,
            non_trainable: 0,
        }
    }

    fn flops(&self, layer: &Layer) -> u64 {
        2 * (layer.input.elements() * dense(&layer.kind).units) as u64
    }

    fn activation(&self, kind: &LayerKind) -> Activation {
        dense(kind).activation
    }

    fn l2(&self, kind: &LayerKind) -> f32 {
        dense(kind).l2
    }

    fn describe(&self, kind: &LayerKind) -> String {
        let d = dense(kind);
        format!(
            "dense {}{}{}",
            d.units,
            super::suffix_activation(d.activation),
            super::suffix_l2(d.l2)
        )
    }
}
