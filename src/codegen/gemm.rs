//! Implicit GEMMs, the kernels of the `conv` and `dense` kinds: their
//! shape, the choice of template and register tile, and the three kernels
//! (forward, weight and input gradients), for both kinds alike.

use super::plan::{Access, BufferId, Phase};
use super::planner::Planner;
use super::template::{Header, Template};
use super::{GemmKind, Tile, Tiling};
use crate::model::{ParamRole, Registry, Shape};
use crate::template;

/// The written-out (register-tiled) templates, whose tiles `cnnc tune`
/// chooses; a change to them invalidates the tuned tiles.
pub const TILED_TEMPLATES: [Template; 3] = [
    template!("conv_forward_tiled"),
    template!("conv_backward_input_tiled"),
    template!("conv_backward_weight_tiled"),
];

/// Offsets of layer `i`'s weight and bias (a batchnorm's scale and shift).
pub fn weights<K: Registry>(p: &Planner<K>, i: usize) -> (usize, usize) {
    let offset = |role| {
        p.layout
            .get(i, role)
            .expect("conv, dense and batchnorm have a weight and a bias")
            .offset
    };
    (offset(ParamRole::Weight), offset(ParamRole::Bias))
}

/// The forward kernel: `out = activation(x * W + bias)`. A final `softmax`
/// is the loss's own (`activate` writes it as the identity); any other
/// activation is applied here, last layer or not.
pub fn forward<K: Registry>(p: &mut Planner<K>, i: usize, g: GemmShape, input: BufferId, out: BufferId) {
    let layer = &p.model.layers[i];
    let (w, bias) = weights(p, i);
    let (name, activation) = (format!("{}_forward", layer.name), p.fused_activation(i));
    let bindings = vec![
        (input, Access::Read),
        (p.io.params, Access::Read),
        (out, Access::ReadWrite),
    ];
    gemm_kernel(p, i, &g, GemmKind::Forward, name, bindings, |h| {
        h.u32("W_OFF", w).u32("BIAS_OFF", bias).activate(activation)
    });
}

/// Weight and bias gradients, then the input's, if anything needs it.
pub fn backward<K: Registry>(p: &mut Planner<K>, i: usize, g: GemmShape, dy: BufferId) {
    let layer = &p.model.layers[i];
    let (name, input) = (layer.name.clone(), layer.inputs[0]);
    let (w, bias) = weights(p, i);
    let (x, grads) = (p.input_of(i), p.io.grads);

    let bindings = vec![(x, Access::Read), (dy, Access::Read), (grads, Access::ReadWrite)];
    let kernel = format!("{name}_backward_weight");
    gemm_kernel(p, i, &g, GemmKind::BackwardWeight, kernel, bindings, |h| {
        h.u32("W_OFF", w)
    });

    let header = Header::default()
        .u32("ROWS", g.out_rows(p.options.batch))
        .u32("C", g.co)
        .u32("BIAS_OFF", bias);
    let bindings = vec![(dy, Access::Read), (grads, Access::ReadWrite)];
    p.kernel(
        format!("{name}_backward_bias"),
        template!("bias_backward"),
        Phase::Backward,
        Some(i),
        header,
        bindings,
        g.co,
        0,
    );

    if !p.needs_grad(input) {
        return;
    }
    let producer = p.producer_activation(input);
    let dx = p.input_grad(i, 0);
    let bindings = vec![
        (dy, Access::Read),
        (p.io.params, Access::Read),
        (x, Access::Read),
        (dx, Access::ReadWrite),
    ];
    let kernel = format!("{name}_backward_input");
    gemm_kernel(p, i, &g, GemmKind::BackwardInput, kernel, bindings, |h| {
        h.u32("W_OFF", w).input_derivative(producer)
    });
}

/// One of a layer's three GEMM kernels: the template and register tile
/// chosen for `kind`, the header the choice needs plus `header`'s own
/// constants, and the tile remembered for `cnnc tune`.
fn gemm_kernel<K: Registry>(
    p: &mut Planner<K>,
    i: usize,
    g: &GemmShape,
    kind: GemmKind,
    name: String,
    bindings: Vec<(BufferId, Access)>,
    header: impl FnOnce(Header) -> Header,
) {
    let b = p.options.batch;
    let flops = p.model.layers[i].flops() * b as u64;
    let key = g.key(kind, b);
    let choice = g.choose(kind, b, &key, flops, &p.options.tiling);
    let phase = match kind {
        GemmKind::Forward => Phase::Forward,
        GemmKind::BackwardWeight | GemmKind::BackwardInput => Phase::Backward,
    };
    let header = header(choice.header(g, b));
    p.kernel(
        name,
        choice.template,
        phase,
        Some(i),
        header,
        bindings,
        choice.invocations,
        flops,
    );
    p.mark_gemm(kind, key, choice.tile);
}

/// A conv or dense layer as the implicit GEMM the conv templates compute;
/// a dense layer is a 1x1 convolution of a 1x1 image.
#[derive(Debug, Clone, Copy)]
pub struct GemmShape {
    ih: usize,
    iw: usize,
    ci: usize,
    oh: usize,
    ow: usize,
    co: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: [usize; 2],
    /// Channel groups (1 for dense and ordinary convs): the kernels of a
    /// grouped conv are `conv_grouped_*`, which read `ci / groups` input
    /// channels per output channel.
    groups: usize,
}

impl GemmShape {
    /// A convolution from `input` to `output` (images) with a `kernel`,
    /// `stride`, zeros `pad` before the first row and column, and `groups`.
    pub fn conv(
        (input, output): (Shape, Shape),
        kernel: [usize; 2],
        stride: usize,
        pad: [usize; 2],
        groups: usize,
    ) -> GemmShape {
        let (Shape::Image { h: ih, w: iw, c: ci }, Shape::Image { h: oh, w: ow, c: co }) = (input, output)
        else {
            panic!("a convolution maps images to images, not {input} to {output}")
        };
        GemmShape {
            ih,
            iw,
            ci,
            oh,
            ow,
            co,
            kh: kernel[0],
            kw: kernel[1],
            stride,
            pad,
            groups,
        }
    }

    /// A dense layer from `input` to `output` features.
    pub fn dense((input, output): (Shape, Shape)) -> GemmShape {
        GemmShape {
            ih: 1,
            iw: 1,
            ci: input.elements(),
            oh: 1,
            ow: 1,
            co: output.elements(),
            kh: 1,
            kw: 1,
            stride: 1,
            pad: [0, 0],
            groups: 1,
        }
    }

    /// Input channels per group: what each output channel reads.
    fn cig(&self) -> usize {
        self.ci / self.groups
    }

    pub fn out_rows(&self, batch: usize) -> usize {
        batch * self.oh * self.ow
    }

    fn header(&self, batch: usize) -> Header {
        Header::default()
            .u32("B", batch)
            .u32("IH", self.ih)
            .u32("IW", self.iw)
            .u32("CI", self.ci)
            .u32("OH", self.oh)
            .u32("OW", self.ow)
            .u32("CO", self.co)
            .u32("KH", self.kh)
            .u32("KW", self.kw)
            .u32("STRIDE", self.stride)
            .u32("PAD_T", self.pad[0])
            .u32("PAD_L", self.pad[1])
    }

    /// The output of a kernel as a matrix: rows x columns.
    fn output(&self, kind: GemmKind, batch: usize) -> (usize, usize) {
        match kind {
            GemmKind::Forward => (self.out_rows(batch), self.co),
            GemmKind::BackwardInput => (batch * self.ih * self.iw, self.ci),
            GemmKind::BackwardWeight => (self.kh * self.kw * self.cig(), self.co),
        }
    }

    /// What a tile is tuned for: the kernel and every shape it is
    /// specialised to (offsets and activations do not change its speed).
    pub fn key(&self, kind: GemmKind, batch: usize) -> String {
        let kind = match kind {
            GemmKind::Forward => "forward",
            GemmKind::BackwardInput => "backward_input",
            GemmKind::BackwardWeight => "backward_weight",
        };
        let groups = if self.groups > 1 {
            format!(" g{}", self.groups)
        } else {
            String::new()
        };
        format!(
            "{kind} b{batch} in{}x{}x{} out{}x{}x{} k{}x{} s{} p{},{}{groups}",
            self.ih,
            self.iw,
            self.ci,
            self.oh,
            self.ow,
            self.co,
            self.kh,
            self.kw,
            self.stride,
            self.pad[0],
            self.pad[1]
        )
    }

    /// A grouped conv's template and tile: scalar register tiles written
    /// out, whose TN columns stay in one group, so TN divides the group's
    /// width (output channels; input channels for the input's gradient).
    /// At most 8 x 8, as the scalar tile takes a register per output.
    fn choose_grouped(&self, kind: GemmKind, rows: usize, cols: usize, wanted: Tile) -> GemmChoice {
        let (template, width) = match kind {
            GemmKind::Forward => (template!("conv_grouped_forward"), self.co / self.groups),
            GemmKind::BackwardInput => (template!("conv_grouped_backward_input"), self.cig()),
            GemmKind::BackwardWeight => (template!("conv_grouped_backward_weight"), self.co / self.groups),
        };
        let m = wanted.m.clamp(1, 8).min(rows.next_power_of_two());
        let n = (1..=wanted.n.clamp(1, 8))
            .rev()
            .find(|n| width.is_multiple_of(*n))
            .unwrap_or(1);
        GemmChoice {
            template,
            tile: Tile { m, n },
            invocations: rows.div_ceil(m) * (cols / n),
        }
    }

    /// The template and tile for a kernel. The written-out (`_tiled`)
    /// kernels read four output channels at a time, so need CO a multiple
    /// of 4; the loop templates take any shape, with a small tile.
    /// `key` is [`GemmShape::key`]'s and `flops` the layer's for the batch
    /// (`Layer::flops`), both of which the caller has.
    pub fn choose(&self, kind: GemmKind, batch: usize, key: &str, flops: u64, tiling: &Tiling) -> GemmChoice {
        let (rows, cols) = self.output(kind, batch);
        let wanted = tiling.tile(kind, key, flops);
        if self.groups > 1 {
            return self.choose_grouped(kind, rows, cols, wanted);
        }
        let (template, tile) = if !self.co.is_multiple_of(4) {
            let generic = match kind {
                GemmKind::Forward => template!("conv_forward"),
                GemmKind::BackwardInput => template!("conv_backward_input"),
                GemmKind::BackwardWeight => template!("conv_backward_weight"),
            };
            (
                generic,
                Tile {
                    m: 4.min(rows),
                    n: 4.min(cols),
                },
            )
        } else {
            let m = wanted.m.clamp(1, rows.next_power_of_two());
            let tile = match kind {
                // Columns are vec4s of output channels: a multiple of 4 that divides CO.
                GemmKind::Forward | GemmKind::BackwardWeight => {
                    let mut n = wanted.n.next_multiple_of(4).min(self.co);
                    while !self.co.is_multiple_of(n) {
                        n -= 4;
                    }
                    Tile { m, n }
                }
                GemmKind::BackwardInput => Tile {
                    m,
                    n: wanted.n.clamp(1, cols),
                },
            };
            let template = match kind {
                GemmKind::Forward => TILED_TEMPLATES[0],
                GemmKind::BackwardInput => TILED_TEMPLATES[1],
                GemmKind::BackwardWeight => TILED_TEMPLATES[2],
            };
            (template, tile)
        };
        GemmChoice {
            template,
            tile,
            invocations: rows.div_ceil(tile.m) * cols.div_ceil(tile.n),
        }
    }
}

/// A GEMM-like kernel's template, tile and dispatch size.
pub struct GemmChoice {
    pub template: Template,
    pub tile: Tile,
    pub invocations: usize,
}

impl GemmChoice {
    pub fn header(&self, g: &GemmShape, batch: usize) -> Header {
        if g.groups > 1 {
            return g
                .header(batch)
                .u32("CIG", g.cig())
                .u32("COG", g.co / g.groups)
                .u32("TM", self.tile.m)
                .u32("TN", self.tile.n);
        }
        g.header(batch)
            .u32("TM", self.tile.m)
            .u32("TN", self.tile.n)
            .u32("TN4", self.tile.n / 4)
    }
}
