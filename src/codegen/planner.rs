//! [`plan`]: a checked [`Model`] to a [`Plan`]. The driver walks the graph
//! (gather, each layer's forward kernels, the loss, each layer's backward
//! kernels in reverse, the optimizer) and asks each layer kind's rule in
//! [`super::rules`] for its kernels; [`Planner`] is what a rule sees.

use std::collections::HashMap;

use super::memory::share_gradient_buffers;
use super::plan::{Access, Binding, BufferDecl, BufferId, BufferRole, Io, Kernel, Phase, Plan, Purpose};
use super::template::Header;
use super::{GemmKind, LowerError, LowerOptions, Tile, loss, optimizer, rules};
use crate::model::{Activation, LayerKind, Model, Operand, Shape};
use crate::params::ParamLayout;

/// Bytes of `Step` in `shaders/common.wgsl`.
pub const STEP_BYTES: u64 = 48;
/// Bytes of one `SampleStat` in `shaders/softmax_cross_entropy.wgsl`.
const SAMPLE_STAT_BYTES: u64 = 16;

/// Plans a training step (or, with [`Purpose::Infer`], an evaluation) of
/// a checked model: its buffers and kernels, without writing any WGSL.
pub fn plan(model: &Model, options: &LowerOptions) -> Result<Plan, LowerError> {
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
    let mut p = Planner::new(model, options);
    p.gather();
    for i in 0..model.layers.len() {
        let output = rules::of(&model.layers[i].kind).forward(&mut p, i);
        p.io.layer_outputs.push(output);
    }
    loss::loss(&mut p, classes);
    if options.purpose == Purpose::Train {
        for i in (0..model.layers.len()).rev() {
            if let Some(dy) = p.gradient_of(i) {
                p.io.layer_grads[i] = Some(dy);
                rules::of(&model.layers[i].kind).backward(&mut p, i, dy);
            }
        }
        optimizer::optimizer(&mut p);
    }
    share_gradient_buffers(&mut p.buffers, &mut p.kernels, &mut p.io);

    let Shape::Image { h, w, c } = model.input else {
        unreachable!("a checked model's input is an image")
    };
    Ok(Plan {
        model: model.name.clone(),
        purpose: options.purpose,
        batch: options.batch,
        samples_per_chunk: options.samples_per_chunk,
        input: [h, w, c],
        classes,
        optimizer: options.optimizer,
        layers: model.layers.iter().map(|l| l.name.clone()).collect(),
        params: p.layout,
        buffers: p.buffers,
        kernels: p.kernels,
        io: p.io,
    })
}

/// A plan being built: what the rules read (the model, the options, the
/// buffers of earlier layers) and the calls they make to add buffers and
/// kernels.
pub struct Planner<'m> {
    pub model: &'m Model,
    pub options: &'m LowerOptions,
    pub layout: ParamLayout,
    pub buffers: Vec<BufferDecl>,
    pub kernels: Vec<Kernel>,
    pub io: Io,
    /// Each max pool's winners, for its backward pass.
    pub argmax: Vec<Option<BufferId>>,
    /// Each batchnorm's statistics of the step, for its backward pass.
    pub bn_stats: Vec<Option<BufferId>>,
    /// Gradients given to each layer's output by the layers that read it
    /// (the loss for the last), summed when the walk reaches the layer.
    contributions: HashMap<usize, Vec<BufferId>>,
    /// Whether anything trainable lies behind each layer's output: one
    /// pass over the layers in order, so planning stays linear in the
    /// layers and edges (see [`Self::needs_grad`]).
    behind_trainable: Vec<bool>,
    /// How many times each layer's output is read (an `add` of a tensor
    /// with itself reads it twice).
    reads: Vec<usize>,
}

/// For each layer, whether it or any layer behind it has trainable
/// parameters. Layers come in topological order, so one pass suffices.
fn behind_trainable(model: &Model) -> Vec<bool> {
    let mut behind = Vec::with_capacity(model.layers.len());
    for layer in &model.layers {
        let inherited = layer.inputs.iter().any(|&o| match o {
            Operand::Input => false,
            Operand::Layer(j) => behind[j],
        });
        behind.push(inherited || layer.params().trainable > 0);
    }
    behind
}

/// How many times each layer's output is read, counting every edge.
fn reads(model: &Model) -> Vec<usize> {
    let mut reads = vec![0; model.layers.len()];
    for operand in model.layers.iter().flat_map(|l| &l.inputs) {
        if let Operand::Layer(j) = *operand {
            reads[j] += 1;
        }
    }
    reads
}

/// Declares a buffer (at least 4 bytes: wgpu binds no empty buffer).
fn declare(buffers: &mut Vec<BufferDecl>, name: String, bytes: u64, role: BufferRole) -> BufferId {
    buffers.push(BufferDecl {
        name,
        bytes: bytes.max(4),
        role,
    });
    buffers.len() - 1
}

impl<'m> Planner<'m> {
    fn new(model: &'m Model, options: &'m LowerOptions) -> Self {
        let layout = ParamLayout::new(model);
        let b = options.batch as u64;
        let mut buffers = Vec::new();
        let mut add = |name: &str, bytes: u64, role| declare(&mut buffers, name.into(), bytes, role);
        let params_bytes = 4 * layout.len as u64;
        let grads_bytes = match options.purpose {
            Purpose::Train => params_bytes,
            Purpose::Infer => 0,
        };
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
            grads: add("grads", grads_bytes, BufferRole::Grads),
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
        Planner {
            model,
            options,
            layout,
            buffers,
            kernels: Vec::new(),
            io,
            argmax: vec![None; model.layers.len()],
            bn_stats: vec![None; model.layers.len()],
            contributions: HashMap::new(),
            behind_trainable: behind_trainable(model),
            reads: reads(model),
        }
    }

    pub fn buffer(&mut self, name: String, bytes: u64, role: BufferRole) -> BufferId {
        declare(&mut self.buffers, name, bytes, role)
    }

    /// A buffer of one f32 per element of `shape`, for the whole batch.
    pub fn tensor(&mut self, name: String, shape: Shape, role: BufferRole) -> BufferId {
        let bytes = 4 * (self.options.batch * shape.elements()) as u64;
        self.buffer(name, bytes, role)
    }

    /// The buffer holding a tensor (for a layer: after its activation).
    pub fn value(&self, operand: Operand) -> BufferId {
        match operand {
            Operand::Input => self.io.input,
            Operand::Layer(j) => self.io.layer_outputs[j],
        }
    }

    /// The buffer layer `i` reads (its first input).
    pub fn input_of(&self, i: usize) -> BufferId {
        self.value(self.model.layers[i].inputs[0])
    }

    /// The activation that produced a tensor, looking through flattens
    /// (views of their input): a backward kernel that computes the
    /// tensor's gradient applies its derivative.
    pub fn producer_activation(&self, mut operand: Operand) -> Activation {
        // A loop, not recursion: a model may flatten thousands of times.
        while let Operand::Layer(j) = operand {
            let layer = &self.model.layers[j];
            match layer.kind {
                LayerKind::Flatten { .. } => operand = layer.inputs[0],
                _ => return layer.activation(),
            }
        }
        Activation::Linear
    }

    /// Whether anything trainable lies behind a tensor, so that its
    /// gradient is needed.
    pub fn needs_grad(&self, operand: Operand) -> bool {
        match operand {
            Operand::Input => false,
            Operand::Layer(j) => self.behind_trainable[j],
        }
    }

    /// A new gradient buffer for the tensor that layer `i` reads as its
    /// `k`-th input, given to that tensor's producer.
    pub fn input_grad(&mut self, i: usize, k: usize) -> BufferId {
        let operand = self.model.layers[i].inputs[k];
        let Operand::Layer(j) = operand else {
            unreachable!("the model's input needs no gradient")
        };
        let name = format!("{}_grad", self.model.layers[j].name);
        let dx = self.tensor(name, self.model.shape(operand), BufferRole::Gradient);
        self.give_gradient(operand, dx);
        dx
    }

    /// Adds `grad` to what the producer of `operand` receives.
    pub fn give_gradient(&mut self, operand: Operand, grad: BufferId) {
        if let Operand::Layer(j) = operand {
            self.contributions.entry(j).or_default().push(grad);
        }
    }

    /// Whether layer `i` is the only reader of its input, so that its
    /// backward kernel may write the input's gradient over the input.
    pub fn sole_reader(&self, i: usize) -> bool {
        match self.model.layers[i].inputs[..] {
            [Operand::Layer(j)] => self.reads[j] == 1,
            // The model's input has no gradient to share; a layer reading
            // several tensors does not write over them.
            _ => false,
        }
    }

    /// The gradient of layer `i`'s output: the one its reader gave, or the
    /// sum of several (in a new buffer, as each may be a view that another
    /// tensor's gradient shares); `None` if nothing needs it.
    fn gradient_of(&mut self, i: usize) -> Option<BufferId> {
        let parts = self.contributions.remove(&i)?;
        let [first, rest @ ..] = parts.as_slice() else {
            return None;
        };
        if rest.is_empty() {
            return Some(*first);
        }
        let layer = &self.model.layers[i];
        let name = format!("{}_grad_sum", layer.name);
        let sum = self.tensor(format!("{}_grad", layer.name), layer.output, BufferRole::Gradient);
        self.sum_into(name, Phase::Backward, i, &parts, sum);
        Some(sum)
    }

    /// `out = parts[0] + parts[1] + ...` (at least two parts, each of layer
    /// `i`'s output shape): a `sum` kernel, then an `accumulate` per further
    /// part.
    pub fn sum_into(&mut self, name: String, phase: Phase, i: usize, parts: &[BufferId], out: BufferId) {
        let n = self.options.batch * self.model.layers[i].output.elements();
        let header = || Header::default().u32("N", n);
        let bindings = vec![
            (parts[0], Access::Read),
            (parts[1], Access::Read),
            (out, Access::ReadWrite),
        ];
        self.kernel(name.clone(), "sum", phase, Some(i), header(), bindings, n, 0);
        for &more in &parts[2..] {
            let bindings = vec![(more, Access::Read), (out, Access::ReadWrite)];
            self.kernel(
                name.clone(),
                "accumulate",
                phase,
                Some(i),
                header(),
                bindings,
                n,
                0,
            );
        }
    }

    /// Adds a kernel of `invocations`, in workgroups sized to them.
    #[allow(clippy::too_many_arguments)]
    pub fn kernel(
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
        let groups = dispatch(invocations, wg);
        self.kernel_in_groups(name, template, phase, layer, header, bindings, wg, groups, flops);
    }

    /// A kernel of `groups` workgroups of `wg` invocations each, for
    /// kernels that reduce within a workgroup.
    #[allow(clippy::too_many_arguments)]
    pub fn kernel_in_groups(
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
        self.kernels.push(Kernel {
            gemm: None,
            tile: None,
            tuned: false,
            name,
            template,
            phase,
            layer,
            header: header.u32("WG", wg),
            bindings: bindings
                .into_iter()
                .map(|(buffer, access)| Binding { buffer, access })
                .collect(),
            workgroup_size: wg as u32,
            workgroups: groups,
            flops,
        });
    }

    /// Records the shape key and tile of the kernel just added, for the tuner.
    pub fn mark_gemm(&mut self, kind: GemmKind, key: String, tile: Tile) {
        let tuned = self.options.tiling.tuned.contains_key(&key);
        let kernel = self.kernels.last_mut().expect("a kernel was added");
        kernel.gemm = Some((kind, key));
        kernel.tile = Some(tile);
        kernel.tuned = tuned;
    }

    /// Builds the batch from the dataset (and augments it in training).
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
}

/// Invocations per workgroup: the most allowed, but fewer for small
/// dispatches so that they still spread over at least 8 workgroups (on a
/// CPU driver each workgroup runs on one core).
fn workgroup_size(invocations: usize, max: usize) -> usize {
    (invocations / 8).next_power_of_two().clamp(8.min(max), max)
}

/// Workgroups for `invocations`, spilling into y past 65535 groups in x.
pub fn dispatch(invocations: usize, workgroup_size: usize) -> [u32; 3] {
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
