//! [`emit`]: a [`Plan`]'s kernels as WGSL modules, validated by naga.

use std::collections::HashMap;

use super::LowerError;
use super::plan::Plan;
use super::template;

/// The last stage's value: a plan with its kernels' WGSL, validated, in
/// the plan's order. The runtime makes it ready on a device; it emits
/// nothing itself, so an invalid shader is a lowering error, not a GPU one.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub plan: Plan,
    pub shaders: Vec<String>,
}

/// A plan with its kernels [`emit`]ted.
pub fn compile(plan: Plan) -> Result<Compiled, LowerError> {
    let shaders = emit(&plan)?;
    Ok(Compiled { plan, shaders })
}

/// One WGSL module per kernel of the plan, in its order. Each distinct
/// module (less its naming comment) is validated once; a module naga rejects is a bug in cnnc.
pub fn emit(plan: &Plan) -> Result<Vec<String>, LowerError> {
    let modules: Vec<String> = plan
        .kernels
        .iter()
        .map(|k| template::emit(&k.name, k.template, &k.header))
        .collect();
    let mut validated: HashMap<&str, ()> = HashMap::new();
    for (k, wgsl) in plan.kernels.iter().zip(&modules) {
        // Modules that differ only in their first line, the comment that
        // names the kernel, are one module to naga: a model that repeats a
        // block has thousands of them.
        let code = wgsl.split_once('\n').map_or(wgsl.as_str(), |(_, code)| code);
        if validated.insert(code, ()).is_none() {
            template::validate(&format!("{}.wgsl", k.name), wgsl).map_err(|message| {
                LowerError::InvalidShader {
                    kernel: k.name.clone(),
                    message,
                }
            })?;
        }
    }
    Ok(modules)
}
