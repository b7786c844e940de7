//! Filling in the hand-written kernels of `shaders/`: a generated header
//! of `const`s and functions, the shared prelude, then the template.
//! Every module is validated with naga before it leaves codegen.

use std::fmt::Write as _;

use crate::model::Activation;
use crate::model::keras::LEAKY_SLOPE;

/// The shared prelude, included after each module's generated constants.
const COMMON: &str = include_str!("../../shaders/common.wgsl");
const WORKGROUP_SUM: &str = include_str!("../../shaders/workgroup_sum.wgsl");

/// Every template, by the name of its file in `shaders/`.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("gather", include_str!("../../shaders/gather.wgsl")),
    (
        "conv_forward_tiled",
        include_str!("../../shaders/conv_forward_tiled.wgsl"),
    ),
    (
        "conv_backward_input_tiled",
        include_str!("../../shaders/conv_backward_input_tiled.wgsl"),
    ),
    (
        "conv_backward_weight_tiled",
        include_str!("../../shaders/conv_backward_weight_tiled.wgsl"),
    ),
    ("conv_forward", include_str!("../../shaders/conv_forward.wgsl")),
    (
        "conv_backward_input",
        include_str!("../../shaders/conv_backward_input.wgsl"),
    ),
    (
        "conv_backward_weight",
        include_str!("../../shaders/conv_backward_weight.wgsl"),
    ),
    ("bias_backward", include_str!("../../shaders/bias_backward.wgsl")),
    (
        "conv_grouped_forward",
        include_str!("../../shaders/conv_grouped_forward.wgsl"),
    ),
    (
        "conv_grouped_backward_input",
        include_str!("../../shaders/conv_grouped_backward_input.wgsl"),
    ),
    (
        "conv_grouped_backward_weight",
        include_str!("../../shaders/conv_grouped_backward_weight.wgsl"),
    ),
    (
        "concat_forward",
        include_str!("../../shaders/concat_forward.wgsl"),
    ),
    (
        "concat_backward",
        include_str!("../../shaders/concat_backward.wgsl"),
    ),
    (
        "max_pool_forward",
        include_str!("../../shaders/max_pool_forward.wgsl"),
    ),
    (
        "max_pool_backward",
        include_str!("../../shaders/max_pool_backward.wgsl"),
    ),
    (
        "avg_pool_forward",
        include_str!("../../shaders/avg_pool_forward.wgsl"),
    ),
    (
        "avg_pool_backward",
        include_str!("../../shaders/avg_pool_backward.wgsl"),
    ),
    (
        "dropout_forward",
        include_str!("../../shaders/dropout_forward.wgsl"),
    ),
    (
        "dropout_backward",
        include_str!("../../shaders/dropout_backward.wgsl"),
    ),
    (
        "activation_forward",
        include_str!("../../shaders/activation_forward.wgsl"),
    ),
    (
        "activation_backward",
        include_str!("../../shaders/activation_backward.wgsl"),
    ),
    (
        "softmax_cross_entropy",
        include_str!("../../shaders/softmax_cross_entropy.wgsl"),
    ),
    ("metrics", include_str!("../../shaders/metrics.wgsl")),
    (
        "batchnorm_statistics",
        include_str!("../../shaders/batchnorm_statistics.wgsl"),
    ),
    (
        "batchnorm_forward",
        include_str!("../../shaders/batchnorm_forward.wgsl"),
    ),
    (
        "batchnorm_backward_params",
        include_str!("../../shaders/batchnorm_backward_params.wgsl"),
    ),
    (
        "batchnorm_backward_input",
        include_str!("../../shaders/batchnorm_backward_input.wgsl"),
    ),
    (
        "weight_penalty",
        include_str!("../../shaders/weight_penalty.wgsl"),
    ),
    ("l2_penalty", include_str!("../../shaders/l2_penalty.wgsl")),
    ("sum", include_str!("../../shaders/sum.wgsl")),
    ("accumulate", include_str!("../../shaders/accumulate.wgsl")),
    ("sgd", include_str!("../../shaders/sgd.wgsl")),
    ("adam", include_str!("../../shaders/adam.wgsl")),
];

fn template(name: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("no template shaders/{name}.wgsl"))
}

/// A value baked into a kernel as a WGSL `const`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Const {
    U32(u64),
    F32(f32),
}

/// A helper function a template calls, generated per kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Function {
    /// `fn activate(x: f32) -> f32` and `activate4`: the activation at a
    /// layer's output.
    Activate(Activation),
    /// `fn input_derivative(x: f32) -> f32`: the derivative of the
    /// activation that produced a kernel's input `x`, written in terms of
    /// that activation's output (which is what the kernel has).
    InputDerivative(Activation),
    /// `fn workgroup_sum(local, value) -> f32` and its workgroup memory
    /// (`shaders/workgroup_sum.wgsl`), for kernels that reduce in one
    /// workgroup.
    WorkgroupSum,
}

/// What a kernel's header defines before its template: data in the plan,
/// written out as WGSL by [`emit`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    consts: Vec<(&'static str, Const)>,
    functions: Vec<Function>,
}

impl Header {
    pub fn u32(mut self, name: &'static str, value: usize) -> Self {
        self.consts.push((name, Const::U32(value as u64)));
        self
    }

    pub fn f32(mut self, name: &'static str, value: f32) -> Self {
        self.consts.push((name, Const::F32(value)));
        self
    }

    /// The value of a `u32` constant, as the runtime and reports read it.
    pub fn get_u32(&self, name: &str) -> Option<u64> {
        self.consts.iter().find_map(|(n, v)| match v {
            Const::U32(v) if *n == name => Some(*v),
            _ => None,
        })
    }

    pub fn activate(mut self, activation: Activation) -> Self {
        self.functions.push(Function::Activate(activation));
        self
    }

    pub fn workgroup_sum(mut self) -> Self {
        self.functions.push(Function::WorkgroupSum);
        self
    }

    pub fn input_derivative(mut self, activation: Activation) -> Self {
        self.functions.push(Function::InputDerivative(activation));
        self
    }
}

/// The WGSL of a generated function.
fn function_text(function: Function) -> String {
    match function {
        Function::Activate(activation) => {
            let body = match activation {
                // Softmax is fused into the loss; the layer emits scores.
                Activation::Linear | Activation::Softmax => "x".to_string(),
                Activation::Relu => "max(x, 0.0)".to_string(),
                Activation::LeakyRelu => format!("select({LEAKY_SLOPE:?} * x, x, x > 0.0)"),
                Activation::Sigmoid => "1.0 / (1.0 + exp(-x))".to_string(),
                Activation::Tanh => "tanh(x)".to_string(),
            };
            let body4 = match activation {
                Activation::Linear | Activation::Softmax => "x".to_string(),
                Activation::Relu => "max(x, vec4<f32>(0.0))".to_string(),
                Activation::LeakyRelu => format!("select({LEAKY_SLOPE:?} * x, x, x > vec4<f32>(0.0))"),
                Activation::Sigmoid => "1.0 / (1.0 + exp(-x))".to_string(),
                Activation::Tanh => "tanh(x)".to_string(),
            };
            format!(
                "fn activate(x: f32) -> f32 {{\n    return {body};\n}}\n\n\
                 fn activate4(x: vec4<f32>) -> vec4<f32> {{\n    return {body4};\n}}\n"
            )
        }
        Function::InputDerivative(activation) => {
            let body = match activation {
                Activation::Linear | Activation::Softmax => "1.0".to_string(),
                Activation::Relu => "select(0.0, 1.0, x > 0.0)".to_string(),
                Activation::LeakyRelu => format!("select({LEAKY_SLOPE:?}, 1.0, x > 0.0)"),
                Activation::Sigmoid => "x * (1.0 - x)".to_string(),
                Activation::Tanh => "1.0 - x * x".to_string(),
            };
            format!("fn input_derivative(x: f32) -> f32 {{\n    return {body};\n}}\n")
        }
        Function::WorkgroupSum => WORKGROUP_SUM.to_string(),
    }
}

/// The full text of a kernel: header, prelude, template (its `//% for`
/// loops written out).
pub fn emit(kernel_name: &str, template_name: &str, header: &Header) -> String {
    let mut out = format!("// {kernel_name}: shaders/{template_name}.wgsl, specialised by cnnc.\n\n");
    for (name, value) in &header.consts {
        match value {
            Const::U32(v) => writeln!(out, "const {name}: u32 = {v}u;"),
            Const::F32(v) => writeln!(out, "const {name}: f32 = {v:?};"),
        }
        .expect("writing to a String");
    }
    out.push('\n');
    for &f in &header.functions {
        out.push_str(&function_text(f));
        out.push('\n');
    }
    out.push_str(COMMON);
    out.push('\n');
    let consts: std::collections::HashMap<&str, u64> = header
        .consts
        .iter()
        .filter_map(|(n, v)| match v {
            Const::U32(v) => Some((*n, *v)),
            Const::F32(_) => None,
        })
        .collect();
    let body = super::unroll::expand(template(template_name), &consts)
        .unwrap_or_else(|e| panic!("shaders/{template_name}.wgsl: {e}"));
    out.push_str(&body);
    out
}

/// Parses and validates a module with naga, as wgpu will.
pub fn validate(name: &str, wgsl: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(wgsl).map_err(|e| e.emit_to_string_with_path(wgsl, name))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string_with_path(wgsl, name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_listed_once() {
        let dir = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).unwrap();
        let mut files: Vec<String> = dir
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".wgsl")
                    .to_string()
            })
            .filter(|n| n != "common" && n != "workgroup_sum")
            .collect();
        files.sort();
        let mut listed: Vec<String> = TEMPLATES.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed);
    }

    #[test]
    fn naga_rejects_an_invalid_module() {
        let err = validate("bad.wgsl", "fn f() -> u32 { return 1.0; }").unwrap_err();
        assert!(err.contains("bad.wgsl"), "{err}");
    }

    #[test]
    fn header_bakes_constants() {
        let h = Header::default()
            .u32("WG", 64)
            .f32("SCALE", 2.0)
            .activate(Activation::Relu);
        let text = emit("k", "activation_forward", &h.u32("N", 10));
        assert!(text.contains("const WG: u32 = 64u;"));
        assert!(text.contains("const SCALE: f32 = 2.0;"));
        assert!(text.contains("return max(x, 0.0);"));
        validate("k.wgsl", &text).unwrap();
    }
}
