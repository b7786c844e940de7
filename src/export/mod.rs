//! The trained model for other tools: views of the checked model and its
//! weights, so that they cannot disagree with training.
//!
//! - [`layout`]: where each tensor is in which order, for the NCHW exports;
//! - [`torch`]: the equivalent PyTorch module, as Python source;
//! - [`onnx`]: the inference graph and its weights as an ONNX file;
//! - [`web`]: a static site that runs the generated kernels on WebGPU.

pub mod layout;
pub mod onnx;
pub mod torch;
pub mod web;

use crate::model::{Model, Operand};

/// Whether every layer reads the one before it alone (the first, the
/// model's input): the models the language writes today, which print as
/// they always have (an `nn.Sequential`, a table without "Connected to").
pub fn is_chain<K>(model: &Model<K>) -> bool {
    model.layers.iter().enumerate().all(|(i, l)| {
        let previous = i.checked_sub(1).map_or(Operand::Input, Operand::Layer);
        l.inputs == [previous]
    })
}
