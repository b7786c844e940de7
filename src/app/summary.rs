//! `cnnc summary`: a Keras-style table of a model's layers and costs, as
//! text or JSON.

use serde::Serialize;

use crate::Model;
use crate::model::Operand;
use crate::units::{human_bytes, thousands};

/// Every number the summary shows, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub name: String,
    pub input: Vec<usize>,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub total_params: usize,
    pub trainable_params: usize,
    pub non_trainable_params: usize,
    /// Bytes of f32 weights.
    pub weight_bytes: u64,
    /// Forward FLOPs per image, 2 x multiply-accumulates.
    pub total_flops: u64,
    /// Bytes of every layer's output for one image.
    pub activation_bytes: u64,
    /// GPU memory of a training step at [`MEMORY_BATCH`] with Adam, as
    /// lowered (absent if the model cannot be lowered yet).
    pub training_memory: Option<crate::codegen::Memory>,
    pub layers: Vec<LayerSummary>,
}

/// The batch size the summary's training memory is given for.
pub const MEMORY_BATCH: usize = 128;

#[derive(Debug, Serialize)]
pub struct LayerSummary {
    pub name: String,
    pub kind: &'static str,
    pub description: String,
    /// The tensors it reads: layer names, `input` for the model's input.
    pub inputs: Vec<String>,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub params: usize,
    pub trainable_params: usize,
    pub flops: u64,
    pub activation_bytes: u64,
}

impl Summary {
    pub fn new(model: &Model) -> Summary {
        let params = model.params();
        Summary {
            name: model.name.clone(),
            input: model.input.dims(),
            params: model
                .params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
                .collect(),
            total_params: params.total(),
            trainable_params: params.trainable,
            non_trainable_params: params.non_trainable,
            weight_bytes: 4 * params.total() as u64,
            total_flops: model.flops(),
            activation_bytes: model.activation_bytes(),
            training_memory: crate::codegen::plan(
                model,
                &crate::codegen::LowerOptions {
                    batch: MEMORY_BATCH,
                    ..Default::default()
                },
            )
            .ok()
            .map(|plan| plan.memory()),
            layers: model
                .layers
                .iter()
                .map(|l| LayerSummary {
                    name: l.name.clone(),
                    kind: l.kind_name(),
                    description: l.describe(),
                    inputs: l.inputs.iter().map(|&o| operand_name(model, o)).collect(),
                    input_shape: l.input.dims(),
                    output_shape: l.output.dims(),
                    params: l.params().total(),
                    trainable_params: l.params().trainable,
                    flops: l.flops(),
                    activation_bytes: l.activation_bytes(),
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary serialises")
    }

    /// The table, as `cnnc summary` prints it. A model that is not a
    /// chain adds Keras's "Connected to" column: the tensors each layer
    /// reads.
    pub fn to_table(&self) -> String {
        let mut header = vec!["Layer", "Type", "Output shape", "Params", "FLOPs", "Memory"];
        let graph = !self.is_chain();
        if graph {
            header.push("Connected to");
        }
        let rows: Vec<Vec<String>> = self
            .layers
            .iter()
            .map(|l| {
                let mut row = vec![
                    l.name.clone(),
                    l.description.clone(),
                    shape(&l.output_shape),
                    thousands(l.params as u64),
                    thousands(l.flops),
                    human_bytes(l.activation_bytes as u128),
                ];
                if graph {
                    row.push(l.inputs.join(", "));
                }
                row
            })
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from(" ");
            for (i, (cell, &w)) in cells.iter().zip(&widths).enumerate() {
                // Text columns left-aligned, numbers right-aligned.
                if (3..6).contains(&i) {
                    s.push_str(&format!(" {cell:>w$} "));
                } else {
                    s.push_str(&format!(" {cell:<w$} "));
                }
            }
            s.trim_end().to_string()
        };
        let rule = format!(
            "  {}",
            "─".repeat(widths.iter().map(|w| w + 2).sum::<usize>() - 2)
        );

        let input = shape(&self.input);
        let mut out = format!("Model \"{}\" (input {input})\n\n", self.name);
        out += &line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
        out += "\n";
        out += &rule;
        out += "\n";
        for row in &rows {
            out += &line(row);
            out += "\n";
        }
        out += &rule;
        out += "\n";
        out += &self.totals();
        out
    }

    /// Whether every layer reads the one before it alone (the first, the
    /// input), as [`crate::export::is_chain`] asks of the model.
    fn is_chain(&self) -> bool {
        let mut previous = INPUT;
        self.layers.iter().all(|l| {
            let reads_previous = l.inputs == [previous];
            previous = &l.name;
            reads_previous
        })
    }

    /// The lines under the table: parameters, FLOPs, memory, `param`s.
    fn totals(&self) -> String {
        let mut out = String::new();
        let rows = [
            (
                "Total params:",
                format!(
                    "{} ({})",
                    thousands(self.total_params as u64),
                    human_bytes(self.weight_bytes as u128)
                ),
            ),
            ("Trainable params:", thousands(self.trainable_params as u64)),
            (
                "Non-trainable params:",
                thousands(self.non_trainable_params as u64),
            ),
            (
                "FLOPs per image:",
                format!(
                    "{} (forward, 2 x multiply-accumulates)",
                    thousands(self.total_flops)
                ),
            ),
            (
                "Activation memory:",
                format!(
                    "{} per image (every layer's output, f32)",
                    human_bytes(self.activation_bytes as u128)
                ),
            ),
        ];
        for (k, v) in rows {
            out += &format!("  {k:<22}{v}\n");
        }
        if let Some(m) = &self.training_memory {
            out += &format!(
                "  {:<22}{} at batch {MEMORY_BATCH} with Adam\n",
                "Training GPU memory:",
                human_bytes(m.total() as u128)
            );
        }
        if !self.params.is_empty() {
            let ps: Vec<String> = self.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            out += &format!("  {:<22}{}\n", "Parameters:", ps.join(", "));
        }
        out
    }
}

/// What the summary calls the model's input among a layer's inputs; no
/// layer is named so (layer names end in their count).
const INPUT: &str = "input";

fn operand_name(model: &Model, operand: Operand) -> String {
    match operand {
        Operand::Input => INPUT.to_string(),
        Operand::Layer(j) => model.layers[j].name.clone(),
    }
}

fn shape(dims: &[usize]) -> String {
    dims.iter().map(usize::to_string).collect::<Vec<_>>().join("x")
}
