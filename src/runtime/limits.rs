//! Refusing, before anything is allocated, a plan the device cannot hold,
//! with a remedy that fits what the buffer holds, or a kernel that asks
//! for more than the device gives (see [`KernelNeeds`]).

use super::RuntimeError;
use crate::codegen::{BufferRole, KernelNeeds, Plan};

/// What shrinks a buffer of `role`: only those that hold one value (or
/// more) per sample of the batch shrink with `--batch`.
fn remedy(role: BufferRole, batch: usize) -> String {
    match role {
        BufferRole::Indices
        | BufferRole::Input
        | BufferRole::Labels
        | BufferRole::Activation
        | BufferRole::PoolIndices
        | BufferRole::Gradient
        | BufferRole::Probabilities
        | BufferRole::SampleStats => format!("use a smaller --batch (now {batch})"),
        BufferRole::Params | BufferRole::Grads | BufferRole::OptimizerState => {
            "the model has too many parameters for one buffer (--batch does not change that); \
             use fewer filters or dense units, or pool before the first dense layer"
                .into()
        }
        BufferRole::Dataset => "train on fewer samples with --limit".into(),
        BufferRole::Step | BufferRole::Totals | BufferRole::BatchNormStatistics | BufferRole::Penalties => {
            "it does not depend on --batch; the model has too many channels or layers for this adapter".into()
        }
    }
}

/// Refuses, before anything is allocated, a plan the device cannot hold:
/// a buffer larger than a binding may be, or a kernel (`shaders` holds
/// their WGSL, in the plan's order) that needs more than `limits` give.
pub fn check_limits(plan: &Plan, shaders: &[String], limits: &wgpu::Limits) -> Result<(), RuntimeError> {
    check_buffers(plan, limits)?;
    for (k, wgsl) in plan.kernels.iter().zip(shaders) {
        let needs = KernelNeeds::of(k, wgsl).map_err(|e| RuntimeError::Gpu(e.to_string()))?;
        if needs.workgroups > limits.max_compute_workgroups_per_dimension {
            return Err(RuntimeError::TooManyWorkgroups {
                kernel: k.name.clone(),
                groups: needs.workgroups,
                limit: limits.max_compute_workgroups_per_dimension,
                batch: plan.batch,
            });
        }
        if let Some((limit_name, needs, limit)) = exceeded(&needs, limits) {
            return Err(RuntimeError::KernelOverLimit {
                kernel: k.name.clone(),
                needs,
                limit,
                limit_name,
            });
        }
    }
    Ok(())
}

/// The first of a kernel's needs that `limits` do not meet: the limit's
/// name in `wgpu::Limits`, the need and the limit.
pub fn exceeded(needs: &KernelNeeds, limits: &wgpu::Limits) -> Option<(&'static str, u64, u64)> {
    let [x, y, z] = needs.workgroup_size;
    let l = limits;
    let pairs: [(&'static str, u32, u32); 10] = [
        (
            "max_storage_buffers_per_shader_stage",
            needs.storage_buffers,
            l.max_storage_buffers_per_shader_stage,
        ),
        (
            "max_uniform_buffers_per_shader_stage",
            needs.uniform_buffers,
            l.max_uniform_buffers_per_shader_stage,
        ),
        ("max_bind_groups", needs.bind_groups, l.max_bind_groups),
        (
            "max_bindings_per_bind_group",
            needs.bindings_per_group,
            l.max_bindings_per_bind_group,
        ),
        ("max_compute_workgroup_size_x", x, l.max_compute_workgroup_size_x),
        ("max_compute_workgroup_size_y", y, l.max_compute_workgroup_size_y),
        ("max_compute_workgroup_size_z", z, l.max_compute_workgroup_size_z),
        (
            "max_compute_invocations_per_workgroup",
            needs.invocations,
            l.max_compute_invocations_per_workgroup,
        ),
        (
            "max_compute_workgroup_storage_size",
            needs.workgroup_storage,
            l.max_compute_workgroup_storage_size,
        ),
        (
            "max_compute_workgroups_per_dimension",
            needs.workgroups,
            l.max_compute_workgroups_per_dimension,
        ),
    ];
    pairs
        .into_iter()
        .find(|&(_, need, limit)| need > limit)
        .map(|(name, need, limit)| (name, need.into(), limit.into()))
}

fn check_buffers(plan: &Plan, limits: &wgpu::Limits) -> Result<(), RuntimeError> {
    for b in &plan.buffers {
        let (limit, limit_name) = if b.role == BufferRole::Step {
            (
                limits.max_uniform_buffer_binding_size,
                "max_uniform_buffer_binding_size",
            )
        } else {
            (
                limits.max_storage_buffer_binding_size,
                "max_storage_buffer_binding_size",
            )
        };
        let (limit, limit_name) = if limits.max_buffer_size < limit {
            (limits.max_buffer_size, "max_buffer_size")
        } else {
            (limit, limit_name)
        };
        if b.bytes > limit {
            return Err(RuntimeError::BufferTooLarge {
                name: b.name.clone(),
                bytes: b.bytes,
                limit,
                limit_name,
                remedy: remedy(b.role, plan.batch),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::LowerOptions;

    fn plan(text: &str, batch: usize) -> Plan {
        let source = crate::source::Source::new("m.cnn", text);
        let model = crate::load(&source, &crate::model::CheckOptions::default()).unwrap();
        crate::codegen::plan(
            &model,
            &LowerOptions {
                batch,
                ..LowerOptions::default()
            },
        )
        .unwrap()
    }

    fn error(plan: &Plan, max_binding: u64) -> String {
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: max_binding,
            ..wgpu::Limits::default()
        };
        check_limits(plan, &shaders(plan), &limits)
            .unwrap_err()
            .to_string()
    }

    fn shaders(plan: &Plan) -> Vec<String> {
        crate::codegen::emit(plan).unwrap()
    }

    #[test]
    fn too_large_parameters_do_not_suggest_a_smaller_batch() {
        // 64 * 1000 + 1000 + 1000 * 10 + 10 = 75,010 parameters: 300 kB each buffer.
        let big_model = plan("input 8x8x1; dense 1000 relu; dense 10 softmax", 2);
        let e = error(&big_model, 200_000);
        assert!(e.contains("too many parameters for one buffer"), "{e}");
        assert!(!e.contains("smaller --batch"), "{e}");
    }

    #[test]
    fn too_large_activations_suggest_a_smaller_batch() {
        // 4096 images of 64 floats: 1 MiB of input; 650 parameters.
        let big_batch = plan("input 8x8x1; dense 10 softmax", 4096);
        let e = error(&big_batch, 512 * 1024);
        assert!(e.contains("use a smaller --batch (now 4096)"), "{e}");
        let fits = plan("input 8x8x1; dense 10 softmax", 64);
        assert!(check_limits(&fits, &shaders(&fits), &wgpu::Limits::default()).is_ok());
    }

    #[test]
    fn a_kernel_over_a_limit_is_named_with_the_limit() {
        let p = plan("input 8x8x1; conv 4 3x3 relu; dense 10 softmax", 8);
        let gather = KernelNeeds::of(&p.kernels[0], &shaders(&p)[0]).unwrap();
        // Four dataset chunks, the indices and the images; the step uniform.
        assert_eq!(p.kernels[0].name, "gather");
        assert_eq!((gather.storage_buffers, gather.uniform_buffers), (6, 1));
        let limits = wgpu::Limits {
            max_storage_buffers_per_shader_stage: 5,
            ..wgpu::Limits::default()
        };
        let e = check_limits(&p, &shaders(&p), &limits).unwrap_err().to_string();
        assert_eq!(
            e,
            "kernel `gather` needs 6 for wgpu's `max_storage_buffers_per_shader_stage`, more than this adapter's 5; choose another adapter (`cnnc adapters` lists them with their limits)"
        );
        let limits = wgpu::Limits {
            max_compute_invocations_per_workgroup: 16,
            ..wgpu::Limits::default()
        };
        let e = check_limits(&p, &shaders(&p), &limits).unwrap_err().to_string();
        assert!(e.contains("`max_compute_invocations_per_workgroup`"), "{e}");
    }
}
