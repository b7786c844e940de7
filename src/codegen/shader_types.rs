//! The structs the host shares with the shaders, field for field and
//! `#[repr(C)]`, so that `bytemuck` can copy them to and from buffers.
//! A change here is a change to the WGSL struct of the same name. They
//! live beside the planner, which sizes their buffers from them; the
//! runtime and the web export write and read them.

/// The per-step uniform: `Step` in `shaders/common.wgsl`, field for field.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepUniform {
    pub samples: u32,
    pub training: u32,
    pub seed: u32,
    pub t: u32,
    pub lr: f32,
    pub alpha: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    pub pad: [u32; 2],
}

/// Running totals that `metrics.wgsl` accumulates: `Totals` there.
#[repr(C)]
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    bytemuck::Pod,
    bytemuck::Zeroable,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Totals {
    pub loss_sum: f32,
    pub correct: u32,
    pub counted: u32,
    pub batches: u32,
}

/// Per-sample results of the loss kernel: `SampleStat` there.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SampleStat {
    pub loss: f32,
    pub predicted: u32,
    pub correct: u32,
    pub counted: u32,
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    /// A declaration of a struct in `shaders/`, as naga lays it out.
    struct WgslStruct {
        file: String,
        /// Names and byte offsets.
        fields: Vec<(String, u32)>,
        size: u32,
    }

    /// Every declaration of `struct NAME` in `shaders/`.
    fn wgsl_layouts(name: &str) -> Vec<WgslStruct> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let Some(start) = text.find(&format!("struct {name} {{")) else {
                continue;
            };
            let end = start + text[start..].find('}').unwrap() + 1;
            let module = naga::front::wgsl::parse_str(&text[start..end]).unwrap();
            let mut layouter = naga::proc::Layouter::default();
            layouter.update(module.to_ctx()).unwrap();
            let (_, ty) = module
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some(name))
                .unwrap();
            let naga::TypeInner::Struct { members, span } = &ty.inner else {
                panic!("{name} is a struct");
            };
            let fields = members
                .iter()
                .map(|m| (m.name.clone().unwrap(), m.offset))
                .collect();
            found.push(WgslStruct {
                file: path.display().to_string(),
                fields,
                size: *span,
            });
        }
        assert!(!found.is_empty(), "no `struct {name}` in {dir}");
        found
    }

    fn assert_shared(name: &str, host: &[(&str, usize)], host_size: usize) {
        let host: Vec<(String, u32)> = host.iter().map(|&(n, o)| (n.to_string(), o as u32)).collect();
        for wgsl in wgsl_layouts(name) {
            assert_eq!(wgsl.fields, host, "{name} in {}: fields and offsets", wgsl.file);
            assert_eq!(wgsl.size as usize, host_size, "{name} in {}: size", wgsl.file);
        }
    }

    /// The host's structs and the shaders' agree field for field, offset
    /// for offset, whichever shader declares them.
    #[test]
    fn host_structs_match_the_shaders() {
        type S = StepUniform;
        let pad = offset_of!(S, pad);
        assert_shared(
            "Step",
            &[
                ("samples", offset_of!(S, samples)),
                ("training", offset_of!(S, training)),
                ("seed", offset_of!(S, seed)),
                ("t", offset_of!(S, t)),
                ("lr", offset_of!(S, lr)),
                ("alpha", offset_of!(S, alpha)),
                ("beta1", offset_of!(S, beta1)),
                ("beta2", offset_of!(S, beta2)),
                ("epsilon", offset_of!(S, epsilon)),
                ("weight_decay", offset_of!(S, weight_decay)),
                ("pad0", pad),
                ("pad1", pad + 4),
            ],
            size_of::<S>(),
        );
        assert_shared(
            "Totals",
            &[
                ("loss_sum", offset_of!(Totals, loss_sum)),
                ("correct", offset_of!(Totals, correct)),
                ("counted", offset_of!(Totals, counted)),
                ("batches", offset_of!(Totals, batches)),
            ],
            size_of::<Totals>(),
        );
        assert_shared(
            "SampleStat",
            &[
                ("loss", offset_of!(SampleStat, loss)),
                ("predicted", offset_of!(SampleStat, predicted)),
                ("correct", offset_of!(SampleStat, correct)),
                ("counted", offset_of!(SampleStat, counted)),
            ],
            size_of::<SampleStat>(),
        );
        assert_eq!(wgsl_layouts("SampleStat").len(), 2, "the loss kernel and metrics");
    }
}
