//! `globalpool avg|max` (not yet in the language): each channel's average
//! or maximum over the whole image, an image H x W x C becoming a vector of
//! C: Keras's `GlobalAveragePooling2D` / `GlobalMaxPooling2D`, PyTorch's
//! `AdaptiveAvgPool2d(1)` / `AdaptiveMaxPool2d(1)` then `flatten`.

use super::{KindRule, Site, image_input};
use crate::diagnostic::Diagnostic;
use crate::model::{LayerKind, PoolKind, Shape};

pub struct GlobalPoolRule;

impl KindRule for GlobalPoolRule {
    fn kind_name(&self) -> &'static str {
        "globalpool"
    }

    fn output(&self, _kind: &LayerKind, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        image_input(inputs[0], "globalpool", site)?;
        Ok(Shape::Flat(inputs[0].channels()))
    }

    fn describe(&self, kind: &LayerKind) -> String {
        match kind {
            LayerKind::GlobalPool(PoolKind::Max) => "globalpool max".into(),
            LayerKind::GlobalPool(PoolKind::Avg) => "globalpool avg".into(),
            _ => unreachable!("the globalpool rule is handed global pools"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Span;

    #[test]
    fn an_image_becomes_its_channels() {
        let site = Site {
            span: Span::new(0, 1),
            focus: Span::new(0, 1),
            from: None,
            more: Vec::new(),
        };
        let kind = LayerKind::GlobalPool(PoolKind::Avg);
        let out = GlobalPoolRule.output(&kind, &[Shape::Image { h: 3, w: 5, c: 7 }], &site);
        assert_eq!(out.ok(), Some(Shape::Flat(7)));
        assert!(GlobalPoolRule.output(&kind, &[Shape::Flat(7)], &site).is_err());
        assert_eq!(
            GlobalPoolRule.describe(&LayerKind::GlobalPool(PoolKind::Max)),
            "globalpool max"
        );
    }
}
