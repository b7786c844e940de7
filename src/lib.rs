//! cnnc: a compiler and trainer for small convolutional networks.
//!
//! ```text
//! &str ──syntax::parse──▶ Program ──model::check──▶ Model
//!      ──codegen::plan──▶ Plan (buffers, kernels as data)
//!      ──codegen::compile──▶ Compiled (the plan and its WGSL, validated by naga)
//!      ──runtime::Executable::new──▶ wgpu (train / eval / predict)
//! ```
//!
//! Each stage is a plain function from one value to the next, with its own
//! error type; [`load`] chains the first two. The stages are written over
//! any list of layer kinds ([`model::Registry`]); [`kinds`] holds cnnc's,
//! each in a file of its own, and [`Model`] is a model of them.

pub mod activation;
pub mod app;
pub mod atomic;
pub mod augment;
pub mod chart;
pub mod codegen;
pub mod data;
pub mod diagnostic;
pub mod export;
pub mod format;
pub mod kinds;
pub mod lsp;
pub mod model;
pub mod params;
pub mod reference;
pub mod rng;
pub mod runtime;
pub mod source;
pub mod syntax;
pub mod train;
pub mod units;
pub mod weights;

use diagnostic::Diagnostics;
pub use kinds::{Layer, LayerKind, Model};
use model::CheckOptions;
use source::Source;

/// Parses and checks a model's source.
pub fn load(source: &Source, options: &CheckOptions) -> Result<Model, Diagnostics> {
    let program = syntax::parse(&source.text, kinds::SIGNATURES)?;
    model::check(&program, options)
}
