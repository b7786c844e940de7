//! `pool [max|avg] K[xK] [stride S]`: a pooling window over each channel,
//! without padding, as Keras's `MaxPooling2D` and `AveragePooling2D`.

use super::conv::conv_out;
use super::{KindRule, Site, Spec, image_input, window_too_large};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::check::Checker;
use crate::model::{LayerKind, Padding, PoolKind, Shape};
use crate::syntax;

/// A pooling layer's settings. Its input is an image; its output keeps
/// the channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    /// Height, width; each at least 1 and at most the input's.
    pub window: [usize; 2],
    /// Along both axes; at least 1. The window's height unless written.
    pub stride: usize,
}

pub(in crate::model) fn lower(p: &syntax::Pool, span: Span, cx: &mut Checker) -> Option<Spec> {
    let window = cx.window(&p.window, "pool window")?;
    let stride = match &p.stride {
        Some(s) => cx.positive(s, "stride")?,
        None => window[0],
    };
    let pool = Pool {
        kind: p.kind,
        window,
        stride,
    };
    Some(Spec {
        focus: p.window.span,
        ..Spec::new(LayerKind::Pool(pool), span)
    })
}

fn pool(kind: &LayerKind) -> &Pool {
    let LayerKind::Pool(p) = kind else {
        unreachable!("the pool rule is handed pools")
    };
    p
}

pub struct PoolRule;

impl KindRule for PoolRule {
    fn kind_name(&self) -> &'static str {
        "pool"
    }

    fn output(&self, kind: &LayerKind, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        let input = inputs[0];
        let p = pool(kind);
        let (h, w) = image_input(input, "pool", site)?;
        let out = conv_out(h, p.window[0], p.stride, Padding::Valid).zip(conv_out(
            w,
            p.window[1],
            p.stride,
            Padding::Valid,
        ));
        let Some((oh, ow)) = out else {
            let help = "use a smaller pool window, or fewer pooling layers before this one";
            return Err(window_too_large(
                (h, w),
                p.window,
                p.stride,
                "pool window",
                help,
                site,
            ));
        };
        Ok(Shape::Image {
            h: oh,
            w: ow,
            c: input.channels(),
        })
    }

    fn describe(&self, kind: &LayerKind) -> String {
        let p = pool(kind);
        let kind = match p.kind {
            PoolKind::Max => "max",
            PoolKind::Avg => "avg",
        };
        let stride = if p.stride != p.window[0] || p.window[0] != p.window[1] {
            format!(" stride {}", p.stride)
        } else {
            String::new()
        };
        format!("pool {kind} {}x{}{stride}", p.window[0], p.window[1])
    }
}
