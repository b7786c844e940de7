//! Filling in the hand-written kernels of `shaders/`: a generated header
//! of `const`s and functions, the shared prelude, then the template.
//! Every module is validated with naga before it leaves codegen.

use std::fmt::Write as _;

use crate::activation::{Activation, Derivative};

/// The shared prelude, included after each module's generated constants.
const COMMON: &str = include_str!("../../shaders/common.wgsl");
const WORKGROUP_SUM: &str = include_str!("../../shaders/workgroup_sum.wgsl");

/// A hand-written kernel of `shaders/`: its file's name and its text,
/// embedded by [`template!`]. The kinds name their own; codegen's shared
/// ones (GEMMs, sums, loss, optimizers) are named where they are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The file's stem: `max_pool_forward` is `shaders/max_pool_forward.wgsl`.
    pub name: &'static str,
    pub text: &'static str,
}

/// The [`Template`] of `shaders/<name>.wgsl`, embedded at compile time.
#[macro_export]
macro_rules! template {
    ($name:literal) => {
        $crate::codegen::template::Template {
            name: $name,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name, ".wgsl")),
        }
    };
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
    /// activation that produced a kernel's input `x`. For an activation
    /// that fuses, `x` is its output (what the kernel reads anyway); for
    /// one whose derivative needs its input, the planner binds that input
    /// as `x` (see `activation::Derivative`).
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

/// The WGSL of a generated function, from its activation's row.
fn function_text(function: Function) -> String {
    match function {
        Function::Activate(activation) => format!(
            "fn activate(x: f32) -> f32 {{\n    return {};\n}}\n\n\
             fn activate4(x: vec4<f32>) -> vec4<f32> {{\n    return {};\n}}\n",
            activation.wgsl(false),
            activation.wgsl(true)
        ),
        Function::InputDerivative(activation) => {
            let (Derivative::OfOutput(body) | Derivative::OfInput(body)) = activation.row().derivative;
            format!("fn input_derivative(x: f32) -> f32 {{\n    return {body};\n}}\n")
        }
        Function::WorkgroupSum => WORKGROUP_SUM.to_string(),
    }
}

/// The helper functions a header's activations call, each once.
fn helpers(header: &Header) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for f in &header.functions {
        if let Function::Activate(a) | Function::InputDerivative(a) = f {
            let text = a.row().wgsl_helpers;
            if !text.is_empty() && !out.contains(&text) {
                out.push(text);
            }
        }
    }
    out
}

/// The full text of a kernel: header, prelude, template (its `//% for`
/// loops written out).
pub fn emit(kernel_name: &str, template: Template, header: &Header) -> String {
    let mut out = format!(
        "// {kernel_name}: shaders/{}.wgsl, specialised by cnnc.\n\n",
        template.name
    );
    for (name, value) in &header.consts {
        match value {
            Const::U32(v) => writeln!(out, "const {name}: u32 = {v}u;"),
            Const::F32(v) => writeln!(out, "const {name}: f32 = {v:?};"),
        }
        .expect("writing to a String");
    }
    out.push('\n');
    for text in helpers(header) {
        out.push_str(text);
        out.push('\n');
    }
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
    let body = super::unroll::expand(template.text, &consts)
        .unwrap_or_else(|e| panic!("shaders/{}.wgsl: {e}", template.name));
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

    /// The templates named by `template!` anywhere in `src/`.
    fn named_templates(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                named_templates(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("template!(\"").skip(1) {
                    out.push(part[..part.find('"').unwrap()].to_string());
                }
            }
        }
    }

    /// Every file of `shaders/` is some kernel's template, and every
    /// template names a file (which `include_str!` already requires).
    #[test]
    fn every_shader_is_a_template() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = std::fs::read_dir(root.join("shaders")).unwrap();
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
        let mut named = Vec::new();
        named_templates(&root.join("src"), &mut named);
        named.sort();
        named.dedup();
        assert_eq!(files, named);
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
            .activate(Activation::named("relu").unwrap());
        let text = emit("k", crate::template!("activation_forward"), &h.u32("N", 10));
        assert!(text.contains("const WG: u32 = 64u;"));
        assert!(text.contains("const SCALE: f32 = 2.0;"));
        assert!(text.contains("return max(x, 0.0);"));
        validate("k.wgsl", &text).unwrap();
    }
}
