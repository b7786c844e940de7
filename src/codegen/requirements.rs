//! What a kernel asks of a device, read from its WGSL by naga (what the
//! driver will see, not what a template meant) and from its dispatch in the
//! plan. The runtime holds these against an adapter's limits; a test holds
//! every example's against WebGPU's defaults, which every backend gives.

use super::LowerError;
use super::plan::Kernel;

/// The resources and sizes one kernel needs, each the quantity of one of
/// `wgpu::Limits`'s fields (named beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelNeeds {
    /// `max_storage_buffers_per_shader_stage`.
    pub storage_buffers: u32,
    /// `max_uniform_buffers_per_shader_stage`.
    pub uniform_buffers: u32,
    /// `max_bind_groups`: the highest group index plus one.
    pub bind_groups: u32,
    /// `max_bindings_per_bind_group`: the highest binding index plus one.
    pub bindings_per_group: u32,
    /// `max_compute_workgroup_size_x`, `_y`, `_z`.
    pub workgroup_size: [u32; 3],
    /// `max_compute_invocations_per_workgroup`: the product of the above.
    pub invocations: u32,
    /// `max_compute_workgroup_storage_size`, in bytes.
    pub workgroup_storage: u32,
    /// `max_compute_workgroups_per_dimension`: the largest of the dispatch.
    pub workgroups: u32,
}

impl KernelNeeds {
    /// Reads a kernel's needs from its emitted WGSL (one compute entry
    /// point, as every template has) and its dispatch.
    pub fn of(kernel: &Kernel, wgsl: &str) -> Result<KernelNeeds, LowerError> {
        let invalid = |message: String| LowerError::InvalidShader {
            kernel: kernel.name.clone(),
            message,
        };
        let module = naga::front::wgsl::parse_str(wgsl).map_err(|e| invalid(e.emit_to_string(wgsl)))?;
        let mut layouter = naga::proc::Layouter::default();
        layouter
            .update(module.to_ctx())
            .map_err(|e| invalid(e.to_string()))?;
        let entry = module
            .entry_points
            .first()
            .ok_or_else(|| invalid("no entry point".into()))?;
        let mut needs = KernelNeeds {
            storage_buffers: 0,
            uniform_buffers: 0,
            bind_groups: 0,
            bindings_per_group: 0,
            workgroup_size: entry.workgroup_size,
            invocations: entry.workgroup_size.iter().product(),
            workgroup_storage: 0,
            workgroups: kernel.workgroups.iter().copied().max().unwrap_or(0),
        };
        for (_, global) in module.global_variables.iter() {
            match global.space {
                naga::AddressSpace::Storage { .. } => needs.storage_buffers += 1,
                naga::AddressSpace::Uniform => needs.uniform_buffers += 1,
                naga::AddressSpace::WorkGroup => needs.workgroup_storage += layouter[global.ty].size,
                // Function-local and private memory have no device limit.
                _ => {}
            }
            if let Some(binding) = &global.binding {
                needs.bind_groups = needs.bind_groups.max(binding.group + 1);
                needs.bindings_per_group = needs.bindings_per_group.max(binding.binding + 1);
            }
        }
        Ok(needs)
    }
}
