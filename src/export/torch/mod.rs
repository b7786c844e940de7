//! The equivalent PyTorch module, as Python source: the names and layouts
//! that `model.safetensors` loads into with `load_state_dict`.
//!
//! A chain prints as an `nn.Sequential`; any other graph as an `nn.Module`
//! subclass with the same submodules under the same names and a `forward`
//! that computes each layer from its inputs. Both are written from one
//! [`steps::Step`] per layer.

mod steps;

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
    K::Kind: Lower<K>,
{
    let steps: Vec<Step> = model.layers.iter().map(step).collect();
    if !crate::export::is_chain(model) || steps.iter().any(|s| s.merge.is_some()) {
        return module_of(model, &steps);
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
    K::Kind: Lower<K>,
{
    let steps: Vec<Step> = model.layers.iter().map(step).collect();
    module_of(model, &steps)
}

fn module_of<K>(model: &Model<K>, steps: &[Step]) -> String {
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
    for (layer, s) in model.layers.iter().zip(steps) {
        out += &format!("        {} = {}", layer.name, forward(model, &layer.inputs, s));
        if let Some(note) = s.note {
            out += &format!("  # {note}");
        }
        out += "\n";
    }
    let last = model.layers.last().map_or("x", |l| l.name.as_str());
    out += &format!("        return {last}\n\n\nmodel = Model()\n");
    out + FOOTER
}

/// The expression of one layer's output, from its inputs' variables.
fn forward<K>(model: &Model<K>, inputs: &[Operand], s: &Step) -> String {
    let names: Vec<String> = inputs
        .iter()
        .map(|&o| match o {
            Operand::Input => "x".to_string(),
            Operand::Layer(j) => model.layers[j].name.clone(),
        })
        .collect();
    let mut expr = match s.merge {
        Some(merge) => merge(&names),
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
