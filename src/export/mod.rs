//! The trained model for other tools: views of the checked model and its
//! weights, so that they cannot disagree with training.
//!
//! - [`torch`]: the equivalent PyTorch module, as Python source.

pub mod torch;
