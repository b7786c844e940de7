//! The lowering rules: for each layer kind, its forward kernels and its
//! backward kernels, side by side.

use std::collections::HashSet;

use super::template::{self, Header};
use super::{
    Access, Binding, BufferDecl, BufferId, BufferRole, GemmKind, Io, Kernel, LowerError, LowerOptions,
    OptimizerKind, Phase, Plan, Tile, Tiling,
};
use crate::model::keras::{BATCHNORM_EPSILON, BATCHNORM_MOMENTUM};
use crate::model::{Activation, Conv, Layer, LayerKind, Model, PoolKind, Shape};
use crate::params::{ParamLayout, ParamRole};
use crate::rng;

/// Bytes of `Step` in `shaders/common.wgsl`.
pub const STEP_BYTES: u64 = 48;
/// Bytes of one `SampleStat` in `shaders/softmax_cross_entropy.wgsl`.
const SAMPLE_STAT_BYTES: u64 = 16;
/// Invocations of the kernels that reduce with one workgroup (per channel,
/// per tensor): a power of two.
const REDUCE_WG: usize = 64;

/// Lowers a checked model to the kernels of a training step.
pub fn lower(model: &Model, options: &LowerOptions) -> Result<Plan, LowerError> {
    let classes = match model.output() {
        Shape::Flat(k) => k,
        Shape::Image { .. } => {
            let last = model.layers.last().expect("a checked model has layers");
            return Err(LowerError::Unsupported {
                message: format!("the model ends with an image ({}), not class scores", last.output),
                span: last.span,
                help: "end the model with a dense layer, such as `dense 10 softmax`".into(),
            });
        }
    };
    let mut l = Lowering::new(model, options);
    l.gather();
    for i in 0..model.layers.len() {
        l.forward(i)?;
    }
    l.loss(classes);
    for i in (0..model.layers.len()).rev() {
        l.backward(i);
    }
    l.optimizer();
    l.share_gradient_buffers();

    let mut validated = HashSet::new();
    for k in &l.kernels {
        if validated.insert(k.wgsl.as_str()) {
            template::validate(&format!("{}.wgsl", k.name), &k.wgsl).map_err(|message| {
                LowerError::InvalidShader {
                    kernel: k.name.clone(),
                    message,
                }
            })?;
        }
    }

    let Shape::Image { h, w, c } = model.input else {
        unreachable!("a checked model's input is an image")
    };
    Ok(Plan {
        model: model.name.clone(),
        batch: options.batch,
        input: [h, w, c],
        classes,
        optimizer: options.optimizer,
        layers: model.layers.iter().map(|l| l.name.clone()).collect(),
        params: l.layout,
        buffers: l.buffers,
        kernels: l.kernels,
        io: l.io,
    })
}

struct Lowering<'m> {
    model: &'m Model,
    options: &'m LowerOptions,
    layout: ParamLayout,
    buffers: Vec<BufferDecl>,
    kernels: Vec<Kernel>,
    io: Io,
    argmax: Vec<Option<BufferId>>,
    /// Each batchnorm's statistics of the step, for its backward pass.
    bn_stats: Vec<Option<BufferId>>,
}

impl<'m> Lowering<'m> {
    fn new(model: &'m Model, options: &'m LowerOptions) -> Self {
        let layout = ParamLayout::new(model);
        let b = options.batch as u64;
        let mut buffers = Vec::new();
        let mut add = |name: &str, bytes: u64, role| {
            buffers.push(BufferDecl {
                name: name.into(),
                bytes: bytes.max(4),
                role,
            });
            buffers.len() - 1
        };
        let params_bytes = 4 * layout.len as u64;
        let dataset = (0..super::DATASET_CHUNKS)
            .map(|i| add(&format!("dataset{i}"), 4, BufferRole::Dataset))
            .collect();
        let io = Io {
            dataset,
            indices: add("indices", 4 * b, BufferRole::Indices),
            input: add("input", 4 * b * model.input.elements() as u64, BufferRole::Input),
            labels: add("labels", 4 * b, BufferRole::Labels),
            step: add("step", STEP_BYTES, BufferRole::Step),
            params: add("params", params_bytes, BufferRole::Params),
            grads: add("grads", params_bytes, BufferRole::Grads),
            probs: add(
                "probs",
                4 * b * model.output().elements() as u64,
                BufferRole::Probabilities,
            ),
            stats: add("sample_stats", SAMPLE_STAT_BYTES * b, BufferRole::SampleStats),
            totals: add("totals", 16, BufferRole::Totals),
            penalties: add(
                "l2_penalties",
                4 * model.layers.iter().filter(|l| l.l2() > 0.0).count() as u64,
                BufferRole::Penalties,
            ),
            layer_outputs: Vec::new(),
            layer_grads: vec![None; model.layers.len()],
        };
        Lowering {
            model,
            options,
            layout,
            buffers,
            kernels: Vec::new(),
            io,
            argmax: vec![None; model.layers.len()],
            bn_stats: vec![None; model.layers.len()],
        }
    }

    fn buffer(&mut self, name: String, bytes: u64, role: BufferRole) -> BufferId {
        self.buffers.push(BufferDecl {
            name,
            bytes: bytes.max(4),
            role,
        });
        self.buffers.len() - 1
    }

    /// A buffer of one f32 per element of `shape`, for the whole batch.
    fn tensor(&mut self, name: String, shape: Shape, role: BufferRole) -> BufferId {
        let bytes = 4 * (self.options.batch * shape.elements()) as u64;
        self.buffer(name, bytes, role)
    }

    fn input_of(&self, i: usize) -> BufferId {
        if i == 0 {
            self.io.input
        } else {
            self.io.layer_outputs[i - 1]
        }
    }

    /// The activation that produced layer `i`'s input, looking through
    /// flattens (which are views of their input).
    fn input_activation(&self, i: usize) -> Activation {
        self.model.layers[..i]
            .iter()
            .rev()
            .find(|l| !matches!(l.kind, LayerKind::Flatten { .. }))
            .map_or(Activation::Linear, Layer::activation)
    }

    /// Whether any layer before `i` has weights: if not, nothing needs the
    /// gradient of `i`'s input.
    fn needs_input_grad(&self, i: usize) -> bool {
        self.model.layers[..i].iter().any(|l| l.params().trainable > 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn kernel(
        &mut self,
        name: String,
        template: &'static str,
        phase: Phase,
        layer: Option<usize>,
        header: Header,
        bindings: Vec<(BufferId, Access)>,
        invocations: usize,
        flops: u64,
    ) {
        let wg = workgroup_size(invocations, self.options.workgroup_size);
        self.kernel_in_groups(
            name,
            template,
            phase,
            layer,
            header,
            bindings,
            wg,
            dispatch(invocations, wg),
            flops,
        );
    }

    /// A kernel of `groups` workgroups of `wg` invocations each, for
    /// kernels that reduce within a workgroup.
    #[allow(clippy::too_many_arguments)]
    fn kernel_in_groups(
        &mut self,
        name: String,
        template: &'static str,
        phase: Phase,
        layer: Option<usize>,
        header: Header,
        bindings: Vec<(BufferId, Access)>,
        wg: usize,
        groups: [u32; 3],
        flops: u64,
    ) {
        let wgsl = template::emit(&name, template, &header.u32("WG", wg));
        self.kernels.push(Kernel {
            gemm: None,
            tile: None,
            name,
            template,
            phase,
            layer,
            wgsl,
            bindings: bindings
                .into_iter()
                .map(|(buffer, access)| Binding { buffer, access })
                .collect(),
            workgroup_size: wg as u32,
            workgroups: groups,
            flops,
        });
    }

    // ---- Input ------------------------------------------------------------

    fn gather(&mut self) {
        let b = self.options.batch;
        let e = self.model.input.elements();
        let Shape::Image { h, w, c } = self.model.input else {
            unreachable!("a checked model's input is an image")
        };
        let augment = &self.options.augment;
        let header = Header::default()
            .u32("B", b)
            .u32("E", e)
            .u32("H", h)
            .u32("W", w)
            .u32("C", c)
            .u32("SPC", self.options.samples_per_chunk)
            .u32("FLIP", usize::from(augment.flip))
            .u32("SHIFT", augment.shift as usize)
            .u32("CROP", augment.crop as usize);
        let mut bindings: Vec<(BufferId, Access)> =
            self.io.dataset.iter().map(|&d| (d, Access::Read)).collect();
        bindings.push((self.io.indices, Access::Read));
        bindings.push((self.io.input, Access::ReadWrite));
        bindings.push((self.io.step, Access::Uniform));
        self.kernel(
            "gather".into(),
            "gather",
            Phase::Input,
            None,
            header,
            bindings,
            b * e,
            0,
        );
    }

    // ---- Forward ----------------------------------------------------------

    fn forward(&mut self, i: usize) -> Result<(), LowerError> {
        let layer = &self.model.layers[i];
        let input = self.input_of(i);
        let name = layer.name.clone();
        let b = self.options.batch;
        let output = match &layer.kind {
            LayerKind::Conv(conv) => {
                let out = self.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
                self.conv_forward(i, GemmShape::conv(layer, conv), input, out);
                out
            }
            LayerKind::Dense(_) => {
                let out = self.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
                self.conv_forward(i, GemmShape::dense(layer), input, out);
                out
            }
            LayerKind::Pool(pool) => {
                let out = self.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
                let header = pool_header(layer, b, pool.window, pool.stride);
                let invocations = b * layer.output.elements();
                match pool.kind {
                    PoolKind::Max => {
                        let argmax =
                            self.tensor(format!("{name}_argmax"), layer.output, BufferRole::PoolIndices);
                        self.argmax[i] = Some(argmax);
                        let bindings = vec![
                            (input, Access::Read),
                            (out, Access::ReadWrite),
                            (argmax, Access::ReadWrite),
                        ];
                        self.kernel(
                            format!("{name}_forward"),
                            "max_pool_forward",
                            Phase::Forward,
                            Some(i),
                            header,
                            bindings,
                            invocations,
                            0,
                        );
                    }
                    PoolKind::Avg => {
                        let bindings = vec![(input, Access::Read), (out, Access::ReadWrite)];
                        self.kernel(
                            format!("{name}_forward"),
                            "avg_pool_forward",
                            Phase::Forward,
                            Some(i),
                            header,
                            bindings,
                            invocations,
                            0,
                        );
                    }
                }
                out
            }
            // A view: NHWC memory is already one vector per sample.
            LayerKind::Flatten { .. } => input,
            LayerKind::Dropout { rate } => {
                let out = self.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
                let n = b * layer.output.elements();
                let header = dropout_header(n, *rate, i);
                let bindings = vec![
                    (input, Access::Read),
                    (out, Access::ReadWrite),
                    (self.io.step, Access::Uniform),
                ];
                self.kernel(
                    format!("{name}_forward"),
                    "dropout_forward",
                    Phase::Forward,
                    Some(i),
                    header,
                    bindings,
                    n,
                    0,
                );
                out
            }
            // The loss applies a final softmax itself.
            LayerKind::Activation(Activation::Softmax) => input,
            LayerKind::Activation(a) => {
                let out = self.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
                let n = b * layer.output.elements();
                let header = Header::default().u32("N", n).activate(*a);
                let bindings = vec![(input, Access::Read), (out, Access::ReadWrite)];
                self.kernel(
                    format!("{name}_forward"),
                    "activation_forward",
                    Phase::Forward,
                    Some(i),
                    header,
                    bindings,
                    n,
                    0,
                );
                out
            }
            LayerKind::BatchNorm => {
                let out = self.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
                self.batchnorm_forward(i, input, out);
                out
            }
        };
        self.io.layer_outputs.push(output);
        Ok(())
    }

    /// Statistics (one workgroup per channel), then the normalisation.
    fn batchnorm_forward(&mut self, i: usize, input: BufferId, out: BufferId) {
        let layer = &self.model.layers[i];
        let name = layer.name.clone();
        let (c, shape) = self.batchnorm_shape(i);
        let (gamma, beta) = self.weights(i);
        let offset = |role| self.layout.get(i, role).expect("batchnorm statistics").offset;
        let (mean, var) = (offset(ParamRole::RunningMean), offset(ParamRole::RunningVar));
        let stats = self.buffer(
            format!("{name}_statistics"),
            8 * c as u64,
            BufferRole::BatchNormStatistics,
        );
        self.bn_stats[i] = Some(stats);
        let header = shape
            .workgroup_sum()
            .f32("MOMENTUM", BATCHNORM_MOMENTUM)
            .f32("EPSILON", BATCHNORM_EPSILON)
            .u32("MEAN_OFF", mean)
            .u32("VAR_OFF", var);
        let bindings = vec![
            (input, Access::Read),
            (self.io.params, Access::ReadWrite),
            (stats, Access::ReadWrite),
            (self.io.step, Access::Uniform),
        ];
        self.kernel_in_groups(
            format!("{name}_statistics"),
            "batchnorm_statistics",
            Phase::Forward,
            Some(i),
            header,
            bindings,
            REDUCE_WG,
            dispatch(c, 1),
            0,
        );
        let n = self.options.batch * layer.input.elements();
        let header = Header::default()
            .u32("N", n)
            .u32("C", c)
            .u32("GAMMA_OFF", gamma)
            .u32("BETA_OFF", beta);
        let bindings = vec![
            (input, Access::Read),
            (self.io.params, Access::Read),
            (stats, Access::Read),
            (out, Access::ReadWrite),
        ];
        self.kernel(
            format!("{name}_forward"),
            "batchnorm_forward",
            Phase::Forward,
            Some(i),
            header,
            bindings,
            n,
            0,
        );
    }

    /// A batchnorm's channels, and the header its per-channel kernels
    /// share: batch, positions per sample, channels.
    fn batchnorm_shape(&self, i: usize) -> (usize, Header) {
        let input = self.model.layers[i].input;
        let c = input.channels();
        let header = Header::default()
            .u32("B", self.options.batch)
            .u32("S", input.elements() / c)
            .u32("C", c);
        (c, header)
    }

    fn conv_forward(&mut self, i: usize, g: GemmShape, input: BufferId, out: BufferId) {
        let layer = &self.model.layers[i];
        // A final `softmax` is the loss's own (`activate` writes it as the
        // identity); any other activation is applied here, last layer or not.
        let activation = layer.activation();
        let (w, bias) = self.weights(i);
        let b = self.options.batch;
        let choice = g.choose(GemmKind::Forward, b, &self.options.tiling);
        let header = choice
            .header(&g, b)
            .u32("W_OFF", w)
            .u32("BIAS_OFF", bias)
            .activate(activation);
        let bindings = vec![
            (input, Access::Read),
            (self.io.params, Access::Read),
            (out, Access::ReadWrite),
        ];
        let flops = layer.flops() * b as u64;
        self.kernel(
            format!("{}_forward", layer.name),
            choice.template,
            Phase::Forward,
            Some(i),
            header,
            bindings,
            choice.invocations,
            flops,
        );
        self.mark_gemm(GemmKind::Forward, g.key(GemmKind::Forward, b), choice.tile);
    }

    /// Records the shape key of the kernel just added, for the tuner.
    fn mark_gemm(&mut self, kind: GemmKind, key: String, tile: Tile) {
        let kernel = self.kernels.last_mut().expect("a kernel was added");
        kernel.gemm = Some((kind, key));
        kernel.tile = Some(tile);
    }

    /// Offsets of layer `i`'s weight and bias (a batchnorm's scale and shift).
    fn weights(&self, i: usize) -> (usize, usize) {
        let w = self
            .layout
            .get(i, ParamRole::Weight)
            .expect("conv, dense and batchnorm have weights");
        let b = self
            .layout
            .get(i, ParamRole::Bias)
            .expect("conv, dense and batchnorm have biases");
        (w.offset, b.offset)
    }

    // ---- Loss -------------------------------------------------------------

    fn loss(&mut self, classes: usize) {
        let last = self.model.layers.len() - 1;
        let b = self.options.batch;
        let logits = self.io.layer_outputs[last];
        let grad = self.tensor("logits_grad".into(), Shape::Flat(classes), BufferRole::Gradient);
        self.io.layer_grads[last] = Some(grad);
        // The scores may come out of an activation (`dense 10 tanh`): the
        // loss kernel applies its derivative, as any layer's backward would.
        let header = Header::default()
            .u32("B", b)
            .u32("K", classes)
            .input_derivative(self.input_activation(last + 1));
        let bindings = vec![
            (logits, Access::Read),
            (self.io.labels, Access::Read),
            (grad, Access::ReadWrite),
            (self.io.probs, Access::ReadWrite),
            (self.io.stats, Access::ReadWrite),
            (self.io.step, Access::Uniform),
        ];
        self.kernel(
            "softmax_cross_entropy".into(),
            "softmax_cross_entropy",
            Phase::Loss,
            None,
            header,
            bindings,
            b,
            0,
        );
        let mut slot = 0;
        for i in 0..self.model.layers.len() {
            let l2 = self.model.layers[i].l2();
            if l2 <= 0.0 {
                continue;
            }
            let w = self
                .layout
                .get(i, ParamRole::Weight)
                .expect("l2 layers have weights");
            let header = Header::default()
                .u32("N", w.len())
                .u32("OFF", w.offset)
                .f32("L2", l2)
                .u32("SLOT", slot)
                .workgroup_sum();
            let bindings = vec![
                (self.io.params, Access::Read),
                (self.io.penalties, Access::ReadWrite),
            ];
            self.kernel_in_groups(
                format!("{}_l2_penalty", self.model.layers[i].name),
                "l2_penalty",
                Phase::Loss,
                Some(i),
                header,
                bindings,
                REDUCE_WG,
                [1, 1, 1],
                0,
            );
            slot += 1;
        }
        let bindings = vec![
            (self.io.stats, Access::Read),
            (self.io.totals, Access::ReadWrite),
            (self.io.penalties, Access::Read),
        ];
        self.kernel(
            "metrics".into(),
            "metrics",
            Phase::Loss,
            None,
            Header::default().u32("B", b).u32("P", slot),
            bindings,
            1,
            0,
        );
    }

    // ---- Backward ---------------------------------------------------------

    fn backward(&mut self, i: usize) {
        let layer = &self.model.layers[i];
        let Some(dy) = self.io.layer_grads[i] else {
            return; // nothing after this layer needed a gradient
        };
        let need_dx = self.needs_input_grad(i);
        let x = self.input_of(i);
        let name = layer.name.clone();
        let b = self.options.batch;
        let producer = self.input_activation(i);
        let input_shape = layer.input;
        let dx_name = |me: &Self| format!("{}_grad", me.model.layers[i - 1].name);

        match &layer.kind {
            LayerKind::Conv(conv) => {
                let g = GemmShape::conv(layer, conv);
                self.gemm_backward(i, g, x, dy, need_dx.then_some(producer));
            }
            LayerKind::Dense(_) => {
                let g = GemmShape::dense(layer);
                self.gemm_backward(i, g, x, dy, need_dx.then_some(producer));
            }
            LayerKind::Pool(pool) if need_dx => {
                // In place: the gradient overwrites the pool's input, which
                // nothing after this kernel reads (see max_pool_backward.wgsl).
                let header = pool_header(layer, b, pool.window, pool.stride).input_derivative(producer);
                let (template, bindings) = match pool.kind {
                    PoolKind::Max => (
                        "max_pool_backward",
                        vec![
                            (dy, Access::Read),
                            (self.argmax[i].expect("max pool keeps indices"), Access::Read),
                            (x, Access::ReadWrite),
                        ],
                    ),
                    PoolKind::Avg => (
                        "avg_pool_backward",
                        vec![(dy, Access::Read), (x, Access::ReadWrite)],
                    ),
                };
                let invocations = b * input_shape.elements();
                self.kernel(
                    format!("{name}_backward"),
                    template,
                    Phase::Backward,
                    Some(i),
                    header,
                    bindings,
                    invocations,
                    0,
                );
                self.io.layer_grads[i - 1] = Some(x);
            }
            // A view: the gradient is already laid out as its input's.
            LayerKind::Flatten { .. } if need_dx => self.io.layer_grads[i - 1] = Some(dy),
            LayerKind::Dropout { rate } if need_dx => {
                let dx = self.tensor(dx_name(self), input_shape, BufferRole::Gradient);
                let n = b * input_shape.elements();
                let header = dropout_header(n, *rate, i).input_derivative(producer);
                let bindings = vec![
                    (dy, Access::Read),
                    (x, Access::Read),
                    (dx, Access::ReadWrite),
                    (self.io.step, Access::Uniform),
                ];
                self.kernel(
                    format!("{name}_backward"),
                    "dropout_backward",
                    Phase::Backward,
                    Some(i),
                    header,
                    bindings,
                    n,
                    0,
                );
                self.io.layer_grads[i - 1] = Some(dx);
            }
            LayerKind::BatchNorm => self.batchnorm_backward(i, x, dy, need_dx.then_some(producer)),
            // Its own derivative was applied by whoever computed `dy`; only
            // the producer's is left, if it has one.
            LayerKind::Activation(_) if need_dx && producer == Activation::Linear => {
                self.io.layer_grads[i - 1] = Some(dy)
            }
            LayerKind::Activation(_) if need_dx => {
                let dx = self.tensor(dx_name(self), input_shape, BufferRole::Gradient);
                let n = b * input_shape.elements();
                let header = Header::default().u32("N", n).input_derivative(producer);
                let bindings = vec![(dy, Access::Read), (x, Access::Read), (dx, Access::ReadWrite)];
                self.kernel(
                    format!("{name}_backward"),
                    "activation_backward",
                    Phase::Backward,
                    Some(i),
                    header,
                    bindings,
                    n,
                    0,
                );
                self.io.layer_grads[i - 1] = Some(dx);
            }
            _ => {}
        }
    }

    /// Scale and shift gradients (one workgroup per channel), then, when
    /// needed, the input's.
    fn batchnorm_backward(&mut self, i: usize, x: BufferId, dy: BufferId, dx_producer: Option<Activation>) {
        let layer = &self.model.layers[i];
        let name = layer.name.clone();
        let input_shape = layer.input;
        let (c, shape) = self.batchnorm_shape(i);
        let (gamma, beta) = self.weights(i);
        let stats = self.bn_stats[i].expect("the forward pass kept the statistics");
        let header = shape.u32("GAMMA_OFF", gamma).u32("BETA_OFF", beta);
        let bindings = vec![
            (x, Access::Read),
            (dy, Access::Read),
            (stats, Access::Read),
            (self.io.grads, Access::ReadWrite),
            (self.io.step, Access::Uniform),
        ];
        self.kernel_in_groups(
            format!("{name}_backward_params"),
            "batchnorm_backward_params",
            Phase::Backward,
            Some(i),
            header.clone().workgroup_sum(),
            bindings,
            REDUCE_WG,
            dispatch(c, 1),
            0,
        );
        let Some(producer) = dx_producer else { return };
        let dx = self.tensor(
            format!("{}_grad", self.model.layers[i - 1].name),
            input_shape,
            BufferRole::Gradient,
        );
        let n = self.options.batch * input_shape.elements();
        let bindings = vec![
            (x, Access::Read),
            (dy, Access::Read),
            (stats, Access::Read),
            (self.io.params, Access::Read),
            (self.io.grads, Access::Read),
            (dx, Access::ReadWrite),
            (self.io.step, Access::Uniform),
        ];
        self.kernel(
            format!("{name}_backward_input"),
            "batchnorm_backward_input",
            Phase::Backward,
            Some(i),
            header.u32("N", n).input_derivative(producer),
            bindings,
            n,
            0,
        );
        self.io.layer_grads[i - 1] = Some(dx);
    }

    /// Weight, bias and (when needed) input gradients of a conv or dense.
    fn gemm_backward(
        &mut self,
        i: usize,
        g: GemmShape,
        x: BufferId,
        dy: BufferId,
        dx_producer: Option<Activation>,
    ) {
        let layer = &self.model.layers[i];
        let name = layer.name.clone();
        let b = self.options.batch;
        let flops = layer.flops() * b as u64;
        let (w, bias) = self.weights(i);
        let grads = self.io.grads;

        let choice = g.choose(GemmKind::BackwardWeight, b, &self.options.tiling);
        let header = choice.header(&g, b).u32("W_OFF", w);
        let bindings = vec![(x, Access::Read), (dy, Access::Read), (grads, Access::ReadWrite)];
        self.kernel(
            format!("{name}_backward_weight"),
            choice.template,
            Phase::Backward,
            Some(i),
            header,
            bindings,
            choice.invocations,
            flops,
        );
        self.mark_gemm(
            GemmKind::BackwardWeight,
            g.key(GemmKind::BackwardWeight, b),
            choice.tile,
        );

        let header = Header::default()
            .u32("ROWS", g.out_rows(b))
            .u32("C", g.co)
            .u32("BIAS_OFF", bias);
        let bindings = vec![(dy, Access::Read), (grads, Access::ReadWrite)];
        self.kernel(
            format!("{name}_backward_bias"),
            "bias_backward",
            Phase::Backward,
            Some(i),
            header,
            bindings,
            g.co,
            0,
        );

        if let Some(producer) = dx_producer {
            let dx = self.tensor(
                format!("{}_grad", self.model.layers[i - 1].name),
                layer.input,
                BufferRole::Gradient,
            );
            let choice = g.choose(GemmKind::BackwardInput, b, &self.options.tiling);
            let header = choice.header(&g, b).u32("W_OFF", w).input_derivative(producer);
            let bindings = vec![
                (dy, Access::Read),
                (self.io.params, Access::Read),
                (x, Access::Read),
                (dx, Access::ReadWrite),
            ];
            self.kernel(
                format!("{name}_backward_input"),
                choice.template,
                Phase::Backward,
                Some(i),
                header,
                bindings,
                choice.invocations,
                flops,
            );
            self.mark_gemm(
                GemmKind::BackwardInput,
                g.key(GemmKind::BackwardInput, b),
                choice.tile,
            );
            self.io.layer_grads[i - 1] = Some(dx);
        }
    }

    // ---- Memory -----------------------------------------------------------

    /// Gradients live only from the kernel that writes them to the last one
    /// that reads them; buffers whose lifetimes do not overlap are merged
    /// (greedy interval colouring), so the backward pass needs a few
    /// gradient buffers rather than one per layer.
    fn share_gradient_buffers(&mut self) {
        let gradients: Vec<BufferId> = (0..self.buffers.len())
            .filter(|&b| self.buffers[b].role == BufferRole::Gradient)
            .collect();
        // Each gradient buffer's first and last use, by kernel index.
        let mut lives: Vec<(usize, usize, BufferId)> = gradients
            .iter()
            .filter_map(|&b| {
                let uses: Vec<usize> = (0..self.kernels.len())
                    .filter(|&k| self.kernels[k].bindings.iter().any(|binding| binding.buffer == b))
                    .collect();
                Some((*uses.first()?, *uses.last()?, b))
            })
            .collect();
        lives.sort_unstable();
        // Physical buffers: (last use so far, size, logical buffers).
        let mut shared: Vec<(usize, u64, Vec<BufferId>)> = Vec::new();
        for (first, last, b) in lives {
            let bytes = self.buffers[b].bytes;
            match shared.iter_mut().find(|s| s.0 < first) {
                Some(s) => {
                    s.0 = last;
                    s.1 = s.1.max(bytes);
                    s.2.push(b);
                }
                None => shared.push((last, bytes, vec![b])),
            }
        }
        // Rename: the first logical buffer of each group becomes the physical one.
        let mut target: Vec<BufferId> = (0..self.buffers.len()).collect();
        for (i, (_, bytes, group)) in shared.iter().enumerate() {
            let keep = group[0];
            self.buffers[keep].bytes = *bytes;
            self.buffers[keep].name = format!("gradients{i}");
            for &b in &group[1..] {
                target[b] = keep;
            }
        }
        // Drop merged buffers and renumber the rest.
        let mut new_id = vec![usize::MAX; self.buffers.len()];
        let mut kept = Vec::new();
        for (b, decl) in self.buffers.iter().enumerate() {
            if target[b] == b {
                new_id[b] = kept.len();
                kept.push(decl.clone());
            }
        }
        let remap = |b: BufferId| new_id[target[b]];
        for k in &mut self.kernels {
            for binding in &mut k.bindings {
                binding.buffer = remap(binding.buffer);
            }
        }
        let io = &mut self.io;
        for b in io
            .dataset
            .iter_mut()
            .chain(io.layer_outputs.iter_mut())
            .chain(io.layer_grads.iter_mut().flatten())
        {
            *b = remap(*b);
        }
        for b in [
            &mut io.indices,
            &mut io.input,
            &mut io.labels,
            &mut io.step,
            &mut io.params,
            &mut io.grads,
            &mut io.probs,
            &mut io.stats,
            &mut io.totals,
            &mut io.penalties,
        ] {
            *b = remap(*b);
        }
        for a in self.argmax.iter_mut().chain(self.bn_stats.iter_mut()).flatten() {
            *a = remap(*a);
        }
        self.buffers = kept;
    }

    // ---- Optimizer --------------------------------------------------------

    fn optimizer(&mut self) {
        let n = self.layout.len;
        if n == 0 {
            return;
        }
        let (params, grads, step) = (self.io.params, self.io.grads, self.io.step);
        // Regularisation of conv and dense kernels (not biases, not
        // batchnorm), before the update reads the gradients.
        for i in 0..self.model.layers.len() {
            let layer = &self.model.layers[i];
            if !matches!(layer.kind, LayerKind::Conv(_) | LayerKind::Dense(_))
                || (layer.l2() <= 0.0 && !self.options.weight_decay)
            {
                continue;
            }
            let w = self
                .layout
                .get(i, ParamRole::Weight)
                .expect("conv and dense have weights");
            let decoupled = self.options.optimizer == OptimizerKind::AdamW;
            let header = Header::default()
                .u32("N", w.len())
                .u32("OFF", w.offset)
                .f32("L2X2", 2.0 * layer.l2())
                .u32("DECOUPLED", usize::from(decoupled));
            let bindings = vec![
                (params, Access::ReadWrite),
                (grads, Access::ReadWrite),
                (step, Access::Uniform),
            ];
            self.kernel(
                format!("{}_weight_penalty", layer.name),
                "weight_penalty",
                Phase::Optimizer,
                Some(i),
                header,
                bindings,
                w.len(),
                0,
            );
        }
        let header = Header::default().u32("N", n);
        match self.options.optimizer {
            OptimizerKind::Sgd => {
                let velocity = self.buffer("sgd_velocity".into(), 4 * n as u64, BufferRole::OptimizerState);
                let bindings = vec![
                    (params, Access::ReadWrite),
                    (grads, Access::Read),
                    (velocity, Access::ReadWrite),
                    (step, Access::Uniform),
                ];
                self.kernel(
                    "sgd".into(),
                    "sgd",
                    Phase::Optimizer,
                    None,
                    header,
                    bindings,
                    n,
                    0,
                );
            }
            OptimizerKind::Adam | OptimizerKind::AdamW => {
                let m = self.buffer("adam_m".into(), 4 * n as u64, BufferRole::OptimizerState);
                let v = self.buffer("adam_v".into(), 4 * n as u64, BufferRole::OptimizerState);
                let bindings = vec![
                    (params, Access::ReadWrite),
                    (grads, Access::Read),
                    (m, Access::ReadWrite),
                    (v, Access::ReadWrite),
                    (step, Access::Uniform),
                ];
                self.kernel(
                    "adam".into(),
                    "adam",
                    Phase::Optimizer,
                    None,
                    header,
                    bindings,
                    n,
                    0,
                );
            }
        }
    }
}

/// A conv or dense layer as the implicit GEMM the conv templates compute;
/// a dense layer is a 1x1 convolution of a 1x1 image.
#[derive(Debug, Clone, Copy)]
struct GemmShape {
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
}

impl GemmShape {
    fn conv(layer: &Layer, conv: &Conv) -> GemmShape {
        let (Shape::Image { h: ih, w: iw, c: ci }, Shape::Image { h: oh, w: ow, c: co }) =
            (layer.input, layer.output)
        else {
            unreachable!("a checked conv maps images to images")
        };
        GemmShape {
            ih,
            iw,
            ci,
            oh,
            ow,
            co,
            kh: conv.kernel[0],
            kw: conv.kernel[1],
            stride: conv.stride,
            pad: conv.pad_before(layer.input),
        }
    }

    fn dense(layer: &Layer) -> GemmShape {
        GemmShape {
            ih: 1,
            iw: 1,
            ci: layer.input.elements(),
            oh: 1,
            ow: 1,
            co: layer.output.elements(),
            kh: 1,
            kw: 1,
            stride: 1,
            pad: [0, 0],
        }
    }

    fn out_rows(&self, batch: usize) -> usize {
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
            GemmKind::BackwardWeight => (self.kh * self.kw * self.ci, self.co),
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
        format!(
            "{kind} b{batch} in{}x{}x{} out{}x{}x{} k{}x{} s{} p{},{}",
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

    /// The template and tile for a kernel. The written-out (`_tiled`)
    /// kernels read four output channels at a time, so need CO a multiple
    /// of 4; the loop templates take any shape, with a small tile.
    fn choose(&self, kind: GemmKind, batch: usize, tiling: &Tiling) -> GemmChoice {
        let (rows, cols) = self.output(kind, batch);
        let flops = 2 * (batch * self.oh * self.ow * self.co * self.kh * self.kw * self.ci) as u64;
        let wanted = tiling.tile(kind, &self.key(kind, batch), flops);
        let (template, tile) = if !self.co.is_multiple_of(4) {
            let generic = match kind {
                GemmKind::Forward => "conv_forward",
                GemmKind::BackwardInput => "conv_backward_input",
                GemmKind::BackwardWeight => "conv_backward_weight",
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
                GemmKind::Forward => "conv_forward_tiled",
                GemmKind::BackwardInput => "conv_backward_input_tiled",
                GemmKind::BackwardWeight => "conv_backward_weight_tiled",
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
struct GemmChoice {
    template: &'static str,
    tile: Tile,
    invocations: usize,
}

impl GemmChoice {
    fn header(&self, g: &GemmShape, batch: usize) -> Header {
        g.header(batch)
            .u32("TM", self.tile.m)
            .u32("TN", self.tile.n)
            .u32("TN4", self.tile.n / 4)
    }
}

fn pool_header(layer: &Layer, batch: usize, window: [usize; 2], stride: usize) -> Header {
    let (Shape::Image { h: ih, w: iw, c }, Shape::Image { h: oh, w: ow, .. }) = (layer.input, layer.output)
    else {
        unreachable!("a checked pool maps images to images")
    };
    Header::default()
        .u32("B", batch)
        .u32("IH", ih)
        .u32("IW", iw)
        .u32("C", c)
        .u32("OH", oh)
        .u32("OW", ow)
        .u32("KH", window[0])
        .u32("KW", window[1])
        .u32("STRIDE", stride)
}

fn dropout_header(n: usize, rate: f32, layer: usize) -> Header {
    Header::default()
        .u32("N", n)
        .u32("THRESHOLD", rng::dropout_threshold(rate) as usize)
        .f32("SCALE", 1.0 / (1.0 - rate))
        .u32("SALT", layer)
}

/// Invocations per workgroup: the most allowed, but fewer for small
/// dispatches so that they still spread over at least 8 workgroups (on a
/// CPU driver each workgroup runs on one core).
fn workgroup_size(invocations: usize, max: usize) -> usize {
    (invocations / 8).next_power_of_two().clamp(8.min(max), max)
}

/// Workgroups for `invocations`, spilling into y past 65535 groups in x.
fn dispatch(invocations: usize, workgroup_size: usize) -> [u32; 3] {
    let groups = invocations.div_ceil(workgroup_size).max(1);
    let x = groups.min(65535);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_spills_into_y() {
        assert_eq!(dispatch(1, 64), [1, 1, 1]);
        assert_eq!(dispatch(64 * 65535, 64), [65535, 1, 1]);
        assert_eq!(dispatch(64 * 65536, 64), [65535, 2, 1]);
    }
}
