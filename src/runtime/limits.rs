//! Refusing, before anything is allocated, a plan the device cannot hold,
//! with a remedy that fits what the buffer holds.

use super::RuntimeError;
use crate::codegen::{BufferRole, Plan};

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

/// Refuses, before anything is allocated, a plan the device cannot hold.
pub fn check_limits(plan: &Plan, limits: &wgpu::Limits) -> Result<(), RuntimeError> {
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
    for k in &plan.kernels {
        if let Some(&groups) = k
            .workgroups
            .iter()
            .find(|&&g| g > limits.max_compute_workgroups_per_dimension)
        {
            return Err(RuntimeError::TooManyWorkgroups {
                kernel: k.name.clone(),
                groups,
                limit: limits.max_compute_workgroups_per_dimension,
                batch: plan.batch,
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
        check_limits(plan, &limits).unwrap_err().to_string()
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
        assert!(
            check_limits(
                &plan("input 8x8x1; dense 10 softmax", 64),
                &wgpu::Limits::default()
            )
            .is_ok()
        );
    }
}
