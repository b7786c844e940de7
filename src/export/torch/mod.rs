//! The equivalent PyTorch module, as Python source: the names and layouts
//! that `model.safetensors` loads into with `load_state_dict`.
//!
//! A chain prints as an `nn.Sequential`; any other graph as an `nn.Module`
//! subclass with the same submodules under the same names and a `forward`
//! that computes each layer from its inputs. Both are written from one
//! [`steps::Step`] per layer.

mod steps;

use crate::export::layout::{Layout, Layouts, Order, layouts};
use crate::model::{Model, Operand, Registry, Shape};
use steps::step;
pub use steps::{Lower, Step};

/// The comment that opens either form.
fn header<K>(model: &Model<K>) -> String {
    let Shape::Image { h, w, c } = model.input else {
        unreachable!("a model's input is an image")
    };
    format!(
        "# {}: the PyTorch equivalent of the cnnc model. Input: N x {c} x {h} x {w} (NCHW).\n",
        model.name
    )
}

/// Loading the weights and what the output means, after either form.
const FOOTER: &str = "model.load_state_dict(load_file(\"model.safetensors\"))\n\
    # model(x) gives the scores: probabilities = model(x).softmax(1), and training\n\
    # minimises nn.CrossEntropyLoss()(model(x), labels), as cnnc does.\n";

/// Python source that builds the model with `state_dict` names that are
/// cnnc's weight names: an `nn.Sequential` when the model is a chain of
/// layers that each read one tensor, else the `nn.Module` of [`module`].
///
/// The module outputs the scores that cnnc's loss reads: the last layer's
/// output with its activation, less a final `softmax`, which is the loss's
/// (PyTorch's `nn.CrossEntropyLoss` takes scores too) and the
/// probabilities'.
pub fn sequential<K: Registry>(model: &Model<K>) -> String
where
    K::Kind: Lower<K> + Order<K>,
{
    let steps: Vec<Step> = model.layers.iter().map(step).collect();
    let layouts = layouts(model);
    // An `nn.Sequential` cannot merge tensors, nor reorder a flattened one.
    let merges = steps.iter().any(|s| s.merge.is_some());
    if !crate::export::is_chain(model) || merges || layouts.reorders(model) {
        return module_of(model, &steps, &layouts);
    }
    let mut out = header(model);
    out += "from collections import OrderedDict\n\
            from safetensors.torch import load_file\n\
            from torch import nn\n\n\
            model = nn.Sequential(OrderedDict([\n";
    for m in steps.iter().flat_map(|s| &s.modules) {
        out += &format!("    (\"{}\", {}),\n", m.name, m.constructor);
    }
    out += "]))\n";
    out + FOOTER
}

/// Python source for the model as an `nn.Module` subclass, whatever its
/// graph: `__init__` makes the submodules of [`sequential`] under the same
/// names, and `forward(self, x)` computes each layer into a variable named
/// after it (`x` is the model's input), in the model's order.
pub fn module<K: Registry>(model: &Model<K>) -> String
where
    K::Kind: Lower<K> + Order<K>,
{
    let steps: Vec<Step> = model.layers.iter().map(step).collect();
    module_of(model, &steps, &layouts(model))
}

/// The `nn.Module` form. Vectors are reordered exactly where the ONNX
/// export reorders them ([`crate::export::layout`]): `nn.Flatten` orders an
/// image channel, row, column, as the saved dense and batchnorm weights
/// expect, while a sum, a concatenation and the scores take cnnc's row,
/// column, channel.
fn module_of<K>(model: &Model<K>, steps: &[Step], layouts: &Layouts) -> String {
    let mut out = header(model);
    out += "import torch\n\
            from safetensors.torch import load_file\n\
            from torch import nn\n\n\n\
            class Model(nn.Module):\n    \
            def __init__(self):\n        \
            super().__init__()\n";
    for m in steps.iter().flat_map(|s| &s.modules) {
        out += &format!("        self.{} = {}\n", m.name, m.constructor);
    }
    out += "\n    def forward(self, x):\n";
    let mut reordered = Reordered::default();
    for (i, (layer, s)) in model.layers.iter().zip(steps).enumerate() {
        let names: Vec<String> = layer
            .inputs
            .iter()
            .zip(&layouts.reads[i])
            .map(|(&o, &read)| {
                let name = match o {
                    Operand::Input => "x".to_string(),
                    Operand::Layer(j) => model.layers[j].name.clone(),
                };
                reordered.variable(&mut out, name, layouts.of(model, o), read)
            })
            .collect();
        out += &format!("        {} = {}", layer.name, forward(&names, s));
        if let Some(note) = s.note {
            out += &format!("  # {note}");
        }
        out += "\n";
    }
    let last = match model.layers.last() {
        Some(l) => {
            let have = layouts.outputs[model.layers.len() - 1];
            reordered.variable(&mut out, l.name.clone(), have, layouts.scores)
        }
        None => "x".to_string(),
    };
    out += &format!("        return {last}\n\n\nmodel = Model()\n");
    out + FOOTER
}

/// The variables of reordered tensors written so far: a tensor that
/// several layers read in another order is reordered once.
#[derive(Default)]
struct Reordered(std::collections::HashMap<(String, Layout), String>);

impl Reordered {
    /// The variable holding `name` (in layout `have`) in layout `want`:
    /// `name` itself, or a new variable whose line it writes to `out`.
    fn variable(&mut self, out: &mut String, name: String, have: Layout, want: Layout) -> String {
        if have == want {
            return name;
        }
        if let Some(done) = self.0.get(&(name.clone(), want)) {
            return done.clone();
        }
        let (variable, expr) = match (have, want) {
            (Layout::Nchw { .. }, Layout::ChannelsFirst { .. }) => {
                (format!("{name}_chw"), format!("{name}.flatten(1)"))
            }
            (Layout::Nchw { .. }, Layout::Features(_)) => (
                format!("{name}_hwc"),
                format!("{name}.permute(0, 2, 3, 1).flatten(1)"),
            ),
            (Layout::ChannelsFirst { h, w, c }, Layout::Features(_)) => (
                format!("{name}_hwc"),
                format!("{name}.unflatten(1, ({c}, {h}, {w})).permute(0, 2, 3, 1).flatten(1)"),
            ),
            (Layout::Features(_), Layout::ChannelsFirst { h, w, c }) => (
                format!("{name}_chw"),
                format!("{name}.unflatten(1, ({h}, {w}, {c})).permute(0, 3, 1, 2).flatten(1)"),
            ),
            (from, to) => unreachable!("no reordering from {from:?} to {to:?}"),
        };
        let order = match want {
            Layout::Features(_) => "cnnc's order: row, column, channel",
            _ => "nn.Flatten's order: channel, row, column",
        };
        *out += &format!("        {variable} = {expr}  # {order}\n");
        self.0.insert((name, want), variable.clone());
        variable
    }
}

/// The expression of one layer's output, from its inputs' variables.
fn forward(names: &[String], s: &Step) -> String {
    let mut expr = match s.merge {
        Some(merge) => merge(names),
        None => {
            debug_assert_eq!(names.len(), 1, "a layer without a merge reads one tensor");
            names[0].clone()
        }
    };
    for m in &s.modules {
        expr = format!("self.{}({expr})", m.name);
    }
    expr
}
