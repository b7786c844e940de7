//! Feature order in the exports that keep images NCHW, as PyTorch does
//! (the ONNX graph, the PyTorch module): one account of where each tensor
//! is in which order, and so of where a flattened vector must be reordered,
//! which both exports follow.
//!
//! cnnc keeps images NHWC, so its flatten orders an image's features row,
//! column, channel; an NCHW flatten (ONNX's `Flatten`, PyTorch's
//! `nn.Flatten`) orders them channel, row, column. cnnc's saved dense and
//! batchnorm tensors after a flatten are already in the latter order
//! ([`crate::weights::flattened_image`] says where), so a flatten exports
//! as a plain flatten; any other reader of such vectors (a concat, an add,
//! the scores) must get them back in cnnc's order.

use crate::model::{Model, Operand, Registry, Shape};

/// How a tensor's values lie in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// An image, `[N, C, H, W]`.
    Nchw { h: usize, w: usize, c: usize },
    /// Vectors `[N, F]` in cnnc's feature order: an image's features row,
    /// column, channel (NHWC), a dense layer's in its units' order.
    Features(usize),
    /// Vectors `[N, H·W·C]` flattened from an NCHW image (channel, row,
    /// column), as ONNX's and PyTorch's flatten order them and as cnnc's
    /// saved dense and batchnorm tensors expect after a flatten.
    ChannelsFirst { h: usize, w: usize, c: usize },
}

impl Layout {
    /// The layout an export gives a tensor of this shape, flat ones in
    /// cnnc's order.
    pub fn of(shape: Shape) -> Layout {
        match shape {
            Shape::Image { h, w, c } => Layout::Nchw { h, w, c },
            Shape::Flat(n) => Layout::Features(n),
        }
    }

    /// Values per sample.
    pub fn elements(self) -> usize {
        match self {
            Layout::Nchw { h, w, c } | Layout::ChannelsFirst { h, w, c } => h * w * c,
            Layout::Features(n) => n,
        }
    }
}

/// In which layouts a layer kind reads its inputs in the NCHW exports,
/// and what layout its output is in: implemented by each kind's settings
/// type, for its own layers.
pub trait Order<K: Registry> {
    /// For layer `index` of `model`, whose inputs are in the layouts
    /// `given`: the layouts it reads them in (where one differs, the export
    /// reorders), and its output's layout. By default it reads what it is
    /// given and its output is in the layout of its shape (an image NCHW,
    /// a vector in cnnc's order): right for images, and for a kind whose
    /// vector output has one order (a global pool's channels).
    fn layouts(&self, model: &Model<K>, index: usize, given: Vec<Layout>) -> (Vec<Layout>, Layout) {
        (given, Layout::of(model.layers[index].output))
    }
}

/// Where every tensor of a model is in which layout, in an export.
#[derive(Debug, Clone, PartialEq)]
pub struct Layouts {
    /// For each layer, the layout in which it reads each of its inputs:
    /// where that differs from the input's own layout, the export reorders.
    pub reads: Vec<Vec<Layout>>,
    /// Each layer's output (after its activation).
    pub outputs: Vec<Layout>,
    /// The scores, which are cnnc's classes in cnnc's order.
    pub scores: Layout,
}

impl Layouts {
    /// The layout of a tensor.
    pub fn of<K>(&self, model: &Model<K>, operand: Operand) -> Layout {
        match operand {
            Operand::Input => Layout::of(model.input),
            Operand::Layer(j) => self.outputs[j],
        }
    }

    /// Whether an export must reorder anything: a layer that reads a
    /// tensor in another layout, or scores that are not in cnnc's order.
    pub fn reorders<K>(&self, model: &Model<K>) -> bool {
        let last = self.outputs.last().copied().unwrap_or(Layout::of(model.input));
        last != self.scores
            || model.layers.iter().zip(&self.reads).any(|(layer, reads)| {
                layer
                    .inputs
                    .iter()
                    .zip(reads)
                    .any(|(&o, &read)| self.of(model, o) != read)
            })
    }
}

/// The layouts of `model`'s tensors in an export that keeps images NCHW.
pub fn layouts<K: Registry>(model: &Model<K>) -> Layouts
where
    K::Kind: Order<K>,
{
    let mut layouts = Layouts {
        reads: Vec::with_capacity(model.layers.len()),
        outputs: Vec::with_capacity(model.layers.len()),
        scores: Layout::Features(model.output().elements()),
    };
    for (i, layer) in model.layers.iter().enumerate() {
        let given: Vec<Layout> = layer.inputs.iter().map(|&o| layouts.of(model, o)).collect();
        let (reads, output) = layer.kind.rule().layouts(model, i, given);
        layouts.reads.push(reads);
        layouts.outputs.push(output);
    }
    layouts
}

/// The flat layout in which the saved tensors of `model.layers[index]` (a
/// dense or batchnorm on vectors) expect their input features.
pub fn saved_feature_order<K: Registry>(model: &Model<K>, index: usize) -> Layout {
    match crate::weights::flattened_image(model, index) {
        Some((h, w, c)) => Layout::ChannelsFirst { h, w, c },
        None => Layout::Features(model.layers[index].input.elements()),
    }
}

/// For a kind that computes each value from the same value of its input
/// (dropout, an activation): its input as given, and its output in the
/// same order.
pub fn elementwise(given: Vec<Layout>) -> (Vec<Layout>, Layout) {
    let x = given[0];
    (given, x)
}

/// For a kind that lines several tensors up (a sum, a concatenation):
/// vectors in cnnc's order, whatever made them; images as they are.
pub fn in_cnnc_order(given: Vec<Layout>) -> Vec<Layout> {
    given
        .into_iter()
        .map(|l| match l {
            Layout::Nchw { .. } => l,
            flat => Layout::Features(flat.elements()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckOptions;
    use crate::source::Source;

    fn model(text: &str) -> crate::Model {
        crate::load(&Source::new("m.cnn", text), &CheckOptions::default()).unwrap()
    }

    #[test]
    fn flattened_vectors_are_reordered_where_something_else_reads_them() {
        // A dense reads a flatten in the saved order: nothing to reorder.
        let chain = model("input 4x4x2; conv 2 1x1; flatten; dense 3");
        assert!(!layouts(&chain).reorders(&chain));
        // An add of two flattens, and scores that are a flatten.
        let m = model(
            "input 8x8x3; x: conv 2 1x1; fa: flatten; conv 8 3x3 stride 2 same from x; flatten; add fa; dense 3",
        );
        let l = layouts(&m);
        assert!(l.reorders(&m));
        let add = m.layers.iter().position(|l| l.kind_name() == "add").unwrap();
        assert_eq!(l.reads[add], vec![Layout::Features(128); 2]);
        let last = model("input 2x1x2; conv 2 1x1; flatten");
        let l = layouts(&last);
        assert_eq!(l.outputs[1], Layout::ChannelsFirst { h: 2, w: 1, c: 2 });
        assert_eq!(l.scores, Layout::Features(4));
        assert!(l.reorders(&last));
    }
}
