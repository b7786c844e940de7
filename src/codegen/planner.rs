//! [`plan`]: a checked [`Model`] to a [`Plan`]. The driver walks the graph
//! (gather, each layer's forward kernels, the loss, each layer's backward
//! kernels in reverse, the optimizer) and asks each layer's kind for its
//! kernels through [`Rule`]; [`Planner`] is what a kind sees.
//!
//! How gradients flow: a layer's backward rule receives `dy`, the gradient
//! of the loss with respect to its output *before* its activation. A
//! kernel that computes the gradient of an input multiplies by the
//! derivative of the activation that produced that input (read from the
//! stored input itself, see [`Planner::producer_activation`]), so every
//! activation's derivative is applied once, fused into a kernel that runs
//! anyway. An activation whose derivative needs its input rather than its
//! output (see `activation::Derivative`) is not fused: the planner applies
//! it after the layer's forward kernels, keeping the layer's raw output,
//! and its derivative before the layer's backward ones. Input gradients go
//! to the input's producer through [`Planner::input_grad`] or
//! [`Planner::give_gradient`]; a tensor read by several layers receives
//! the sum.

use std::collections::HashMap;

use super::memory::share_gradient_buffers;
use super::plan::{Access, Binding, BufferDecl, BufferId, BufferRole, Io, Kernel, Phase, Plan, Purpose};
use super::shader_types::{SampleStat, StepUniform};
use super::template::{Header, Template};
use super::{GemmKind, LowerError, LowerOptions, Tile, loss, optimizer};
use crate::activation::Activation;
use crate::model::{KindRule, Model, Operand, Registry, Shape};
use crate::params::ParamLayout;
use crate::template;

/// Bytes of `Step` in `shaders/common.wgsl`.
pub const STEP_BYTES: u64 = std::mem::size_of::<StepUniform>() as u64;
/// Bytes of one `SampleStat` in `shaders/softmax_cross_entropy.wgsl`.
const SAMPLE_STAT_BYTES: u64 = std::mem::size_of::<SampleStat>() as u64;
/// Invocations of the kernels that reduce with one workgroup (per channel,
/// per tensor): a power of two.
pub const REDUCE_WG: usize = 64;

/// How one layer kind is computed on the GPU: implemented by each kind's
/// settings type, for its own layers.
pub trait Rule<K: Registry> {
    /// Adds layer `i`'s forward kernels; returns the buffer of its output,
    /// after the activation [`Planner::fused_activation`] gives it.
    fn forward(&self, p: &mut Planner<K>, i: usize) -> BufferId;

    /// Adds layer `i`'s backward kernels, given the gradient of its output
    /// before activation: its parameters' gradients, and its inputs' where
    /// [`Planner::needs_grad`].
    fn backward(&self, p: &mut Planner<K>, i: usize, dy: BufferId);
}

/// Plans a training step (or, with [`Purpose::Infer`], an evaluation) of
/// a checked model: its buffers and kernels, without writing any WGSL.
pub fn plan<K: Registry>(model: &Model<K>, options: &LowerOptions) -> Result<Plan, LowerError>
where
    K::Kind: Rule<K>,
{
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
    for (i, layer) in model.layers.iter().enumerate() {
        let raw = layer.kind.rule().forward(&mut p, i);
        let output = p.activate_unfused(i, raw);
        p.io.layer_outputs.push(output);
    }
    loss::loss(&mut p, classes);
    if options.purpose == Purpose::Train {
        for (i, layer) in model.layers.iter().enumerate().rev() {
            if let Some(dy) = p.gradient_of(i) {
                let dy = p.unfused_derivative(i, dy);
                p.io.layer_grads[i] = Some(dy);
                layer.kind.rule().backward(&mut p, i, dy);
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

/// A plan being built: what the kinds read (the model, the options, the
/// buffers of earlier layers) and the calls they make to add buffers and
/// kernels.
pub struct Planner<'m, K> {
    pub model: &'m Model<K>,
    pub options: &'m LowerOptions,
    pub layout: ParamLayout,
    pub buffers: Vec<BufferDecl>,
    pub kernels: Vec<Kernel>,
    pub io: Io,
    /// What each layer's forward pass keeps for its backward pass (a max
    /// pool's winners, a batchnorm's statistics), by layer and name.
    saved: HashMap<(usize, &'static str), BufferId>,
    /// Per layer: whether anything trainable lies behind its output.
    needs_grad: Vec<bool>,
    /// How many layers read the model's input, and each layer's output.
    readers: (usize, Vec<usize>),
    /// Gradients given to each layer's output by the layers that read it
    /// (the loss for the last), summed when the walk reaches the layer.
    contributions: HashMap<usize, Vec<BufferId>>,
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

impl<'m, K: Registry> Planner<'m, K> {
    fn new(model: &'m Model<K>, options: &'m LowerOptions) -> Self {
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
            saved: HashMap::new(),
            needs_grad: needs_grad(model),
            readers: readers(model),
            contributions: HashMap::new(),
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

    /// The activation that produced a tensor, looking through views (a
    /// flatten), as a kernel that reads the tensor for its gradient must
    /// apply it: none when the planner applies it itself (not fused).
    pub fn producer_activation(&self, operand: Operand) -> Activation {
        let mut operand = operand;
        while let Operand::Layer(j) = operand {
            let layer = &self.model.layers[j];
            if !layer.rule().is_view() {
                return self.fused_activation(j);
            }
            operand = layer.inputs[0];
        }
        Activation::LINEAR
    }

    /// The activation layer `i`'s forward kernels apply at its output:
    /// its own where it fuses, else none (the planner applies it).
    pub fn fused_activation(&self, i: usize) -> Activation {
        let a = self.model.layers[i].activation();
        if a.fuses() { a } else { Activation::LINEAR }
    }

    /// Whether anything trainable lies behind a tensor, so that its
    /// gradient is needed.
    pub fn needs_grad(&self, operand: Operand) -> bool {
        match operand {
            Operand::Input => false,
            Operand::Layer(j) => self.needs_grad[j],
        }
    }

    /// Keeps a buffer of layer `i`'s forward pass for its backward pass.
    pub fn save(&mut self, i: usize, what: &'static str, buffer: BufferId) {
        self.saved.insert((i, what), buffer);
    }

    /// What layer `i`'s forward pass kept as `what`.
    pub fn saved(&self, i: usize, what: &'static str) -> BufferId {
        self.saved[&(i, what)]
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
        let readers = |o: Operand| match o {
            Operand::Input => self.readers.0,
            Operand::Layer(j) => self.readers.1[j],
        };
        readers(self.model.layers[i].inputs[0]) == 1
    }

    /// Gives layer `i`'s `k`-th input the gradient `dy` (with respect to
    /// that input, after its producer's activation) times the derivative
    /// of that activation: `dy` itself when the producer is linear, else a
    /// kernel's output. Nothing when the input needs no gradient.
    pub fn apply_derivative(&mut self, i: usize, k: usize, dy: BufferId) {
        let input = self.model.layers[i].inputs[k];
        if !self.needs_grad(input) {
            return;
        }
        let producer = self.producer_activation(input);
        if producer == Activation::LINEAR {
            self.give_gradient(input, dy);
            return;
        }
        let x = self.value(input);
        let dx = self.input_grad(i, k);
        let n = self.options.batch * self.model.shape(input).elements();
        let header = Header::default().u32("N", n).input_derivative(producer);
        let bindings = vec![(dy, Access::Read), (x, Access::Read), (dx, Access::ReadWrite)];
        let name = format!("{}_backward", self.model.layers[i].name);
        let template = template!("activation_backward");
        self.kernel(name, template, Phase::Backward, Some(i), header, bindings, n, 0);
    }

    /// After layer `i`'s forward kernels: its activation, where it does
    /// not fuse, in a kernel of its own over the layer's raw output, which
    /// is kept for the derivative; returns the layer's output.
    fn activate_unfused(&mut self, i: usize, raw: BufferId) -> BufferId {
        let layer = &self.model.layers[i];
        let a = layer.activation();
        if a.fuses() {
            return raw;
        }
        let name = format!("{}_{}", layer.name, a.keyword());
        let out = self.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let n = self.options.batch * layer.output.elements();
        let header = Header::default().u32("N", n).activate(a);
        let bindings = vec![(raw, Access::Read), (out, Access::ReadWrite)];
        let template = template!("activation_forward");
        self.kernel(name, template, Phase::Forward, Some(i), header, bindings, n, 0);
        self.save(i, "pre_activation", raw);
        out
    }

    /// Before layer `i`'s backward kernels: the gradient before its
    /// activation, `dy · f'(z)`, where the activation does not fuse (its
    /// derivative needs the raw output `z`); else `dy`, which the readers'
    /// kernels already multiplied by the derivative.
    fn unfused_derivative(&mut self, i: usize, dy: BufferId) -> BufferId {
        let layer = &self.model.layers[i];
        let a = layer.activation();
        if a.fuses() {
            return dy;
        }
        // Named `…_derivative`: it completes the layer's output gradient
        // before the layer's own backward kernels.
        let name = format!("{}_{}_derivative", layer.name, a.keyword());
        let dz = self.tensor(
            format!("{}_pre_grad", layer.name),
            layer.output,
            BufferRole::Gradient,
        );
        let z = self.saved(i, "pre_activation");
        let n = self.options.batch * layer.output.elements();
        let header = Header::default().u32("N", n).input_derivative(a);
        let bindings = vec![(dy, Access::Read), (z, Access::Read), (dz, Access::ReadWrite)];
        let template = template!("activation_backward");
        self.kernel(name, template, Phase::Backward, Some(i), header, bindings, n, 0);
        dz
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
        self.kernel(
            name.clone(),
            template!("sum"),
            phase,
            Some(i),
            header(),
            bindings,
            n,
            0,
        );
        for &more in &parts[2..] {
            let bindings = vec![(more, Access::Read), (out, Access::ReadWrite)];
            self.kernel(
                name.clone(),
                template!("accumulate"),
                phase,
                Some(i),
                header(),
                bindings,
                n,
                0,
            );
        }
    }

    /// Adds layer `i`'s forward kernel, `<layer>_forward`, of
    /// `invocations` and no FLOPs of note (copies, scalings, masks).
    pub fn forward_kernel(
        &mut self,
        i: usize,
        template: Template,
        header: Header,
        bindings: Vec<(BufferId, Access)>,
        invocations: usize,
    ) {
        let name = format!("{}_forward", self.model.layers[i].name);
        self.kernel(
            name,
            template,
            Phase::Forward,
            Some(i),
            header,
            bindings,
            invocations,
            0,
        );
    }

    /// Adds a kernel of `invocations`, in workgroups sized to them.
    #[allow(clippy::too_many_arguments)]
    pub fn kernel(
        &mut self,
        name: String,
        template: Template,
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
        template: Template,
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
            template!("gather"),
            Phase::Input,
            None,
            header,
            bindings,
            b * e,
            0,
        );
    }
}

/// Per layer, whether anything trainable lies behind its output: one pass
/// in topological order, each layer asking only its inputs.
fn needs_grad<K: Registry>(model: &Model<K>) -> Vec<bool> {
    let mut needs: Vec<bool> = Vec::with_capacity(model.layers.len());
    for layer in &model.layers {
        let behind = layer
            .inputs
            .iter()
            .any(|o| matches!(o, Operand::Layer(j) if needs[*j]));
        needs.push(behind || layer.params().trainable > 0);
    }
    needs
}

/// How many layers read the model's input, and each layer's output.
fn readers<K>(model: &Model<K>) -> (usize, Vec<usize>) {
    let mut input = 0;
    let mut layers = vec![0; model.layers.len()];
    for layer in &model.layers {
        let mut seen: Vec<Operand> = Vec::with_capacity(layer.inputs.len());
        for &o in &layer.inputs {
            if seen.contains(&o) {
                continue;
            }
            seen.push(o);
            match o {
                Operand::Input => input += 1,
                Operand::Layer(j) => layers[j] += 1,
            }
        }
    }
    (input, layers)
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
