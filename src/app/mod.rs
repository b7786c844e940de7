//! The application: what the commands do, end to end, on top of the
//! compiler's stages and the trainer. Nothing below `app` imports it; the
//! CLI (`main.rs`) calls it and prints.
//!
//! - [`workflow`]: read and check a model, load its data, plan, open the
//!   GPU, then train, evaluate or predict;
//! - [`compare`]: train several models or a sweep alike and report;
//! - [`bench`], [`ceiling`], [`tune`], [`tiles`]: speed, the adapter's best
//!   GEMM it is held against, and the register tiles that give it, cached
//!   per adapter;
//! - [`inference`]: evaluation and prediction on the GPU;
//! - [`pareto`]: the Pareto front of accuracy against a cost, and its chart;
//! - [`search`]: the best configuration for a budget, by successive halving;
//! - [`summary`]: the Keras-style table and its JSON;
//! - [`fmt`]: the files `cnnc fmt` rewrites.

pub mod bench;
pub mod ceiling;
pub mod compare;
pub mod fmt;
pub mod inference;
pub mod pareto;
pub mod search;
pub mod summary;
pub mod tiles;
pub mod tune;
pub mod workflow;
