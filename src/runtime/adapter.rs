//! Which adapter a process runs on. Every adapter of every backend is
//! listed (see `instance`); the default is the fastest kind present, a user
//! chooses by index, backend or name, and a scheduler's variables name the
//! GPU it gave the task. The choosing is plain functions over
//! [`wgpu::AdapterInfo`], so it is tested without adapters.

use std::fmt;

use crate::units::human_bytes;

use super::RuntimeError;
use super::instance::instances;

/// Every adapter wgpu can reach, in the order `cnnc adapters` numbers them.
pub(super) fn enumerate() -> Vec<wgpu::Adapter> {
    instances()
        .iter()
        .flat_map(|instance| pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all())))
        .collect()
}

/// What the user asked for with `--adapter` or `CNNC_ADAPTER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterChoice {
    /// The n-th adapter of `cnnc adapters`.
    Index(usize),
    /// The best adapter of a backend (`vulkan`, `metal`, `dx12`, `gl`).
    Backend(wgpu::Backend),
    /// The best adapter whose name contains this (any case).
    Name(String),
}

impl AdapterChoice {
    pub fn parse(text: &str) -> AdapterChoice {
        let text = text.trim();
        if let Ok(i) = text.parse::<usize>() {
            return AdapterChoice::Index(i);
        }
        let backend = match text.to_lowercase().as_str() {
            "vulkan" | "vk" => Some(wgpu::Backend::Vulkan),
            "metal" => Some(wgpu::Backend::Metal),
            "dx12" | "d3d12" | "directx" => Some(wgpu::Backend::Dx12),
            "gl" | "gles" | "opengl" => Some(wgpu::Backend::Gl),
            _ => None,
        };
        backend.map_or_else(|| AdapterChoice::Name(text.to_string()), AdapterChoice::Backend)
    }
}

/// How much faster a kind of adapter is expected to be: lower first.
fn speed_rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    // One GPU seen through two backends: the native compute API first, in
    // wgpu's own order (Vulkan, Metal, DX12); GL, which goes through GLSL
    // and emulates buffer mapping, last.
    let backend = match info.backend {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal => 1,
        wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 3,
        wgpu::Backend::BrowserWebGpu | wgpu::Backend::Noop => 4,
    };
    (kind, backend)
}

/// The fastest of `candidates` (indices into `adapters`); ties go to the
/// first listed.
fn fastest(adapters: &[wgpu::AdapterInfo], candidates: impl Iterator<Item = usize>) -> Option<usize> {
    candidates.min_by_key(|&i| (speed_rank(&adapters[i]), i))
}

/// The adapter `choice` names; without one, the one `CNNC_ADAPTER` names,
/// else the scheduler's GPU (see [`scheduled_adapter`]), else the fastest
/// kind present. An index into `adapters`, or an error that lists them.
/// `env` reads the environment.
pub fn choose(
    adapters: &[wgpu::AdapterInfo],
    choice: Option<&AdapterChoice>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<usize, RuntimeError> {
    let from_env = env("CNNC_ADAPTER")
        .filter(|c| !c.trim().is_empty())
        .map(|c| AdapterChoice::parse(&c));
    let choice = choice.or(from_env.as_ref());
    let unknown = |choice: String| RuntimeError::UnknownAdapter {
        choice,
        available: list(adapters),
    };
    let found = match choice {
        None => match scheduled_adapter(adapters, env).map_err(unknown)? {
            Some(i) => return Ok(i),
            None => fastest(adapters, 0..adapters.len()),
        },
        Some(AdapterChoice::Index(i)) => (*i < adapters.len()).then_some(*i),
        Some(AdapterChoice::Backend(backend)) => fastest(
            adapters,
            (0..adapters.len()).filter(|&i| adapters[i].backend == *backend),
        ),
        Some(AdapterChoice::Name(name)) => {
            let name = name.to_lowercase();
            fastest(
                adapters,
                (0..adapters.len()).filter(|&i| adapters[i].name.to_lowercase().contains(&name)),
            )
        }
    };
    match (found, choice) {
        (Some(i), _) => Ok(i),
        (None, None) => Err(RuntimeError::NoAdapter(
            "; on a machine without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers"
                .into(),
        )),
        (None, Some(c)) => Err(unknown(c.to_string())),
    }
}

impl fmt::Display for AdapterChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdapterChoice::Index(i) => write!(f, "{i}"),
            AdapterChoice::Backend(b) => write!(f, "{b}"),
            AdapterChoice::Name(n) => f.write_str(n),
        }
    }
}

/// The variables in which schedulers (Slurm among them) name the GPUs
/// they gave a task, and the PCI vendor each speaks of.
const VISIBLE_DEVICES: [(&str, u32); 2] =
    [("CUDA_VISIBLE_DEVICES", 0x10de), ("ROCR_VISIBLE_DEVICES", 0x1002)];

/// The adapter a scheduler gave this process, as an index into `adapters`.
/// The first entry of `CUDA_VISIBLE_DEVICES` (`ROCR_VISIBLE_DEVICES`),
/// an index, names the n-th NVIDIA (AMD) adapter in PCI bus order, which
/// is the order NVML gives and Slurm's GPU indices follow. Each GPU counts
/// once: through the fastest backend that lists an adapter of the vendor
/// (one GPU is also listed by GL, which reports no bus). When the task can
/// see only one such adapter (Slurm's `ConstrainDevices`, or a container)
/// it is that one, whatever the index. Nothing set, or no adapter of that
/// vendor (lavapipe): `None`, and the usual choice. A UUID (`GPU-…`) cannot
/// be matched (wgpu does not report Vulkan's device UUID) and, like an
/// index beyond the adapters, is an error that asks for `--adapter`,
/// rather than a guess that could share a GPU with another task.
pub fn scheduled_adapter(
    adapters: &[wgpu::AdapterInfo],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<usize>, String> {
    for (var, vendor) in VISIBLE_DEVICES {
        let Some(value) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let of_vendor = || (0..adapters.len()).filter(|&i| adapters[i].vendor == vendor);
        let Some(best) = fastest(adapters, of_vendor()) else {
            continue;
        };
        let mut ours: Vec<usize> = of_vendor()
            .filter(|&i| adapters[i].backend == adapters[best].backend)
            .collect();
        ours.sort_by(|&a, &b| adapters[a].device_pci_bus_id.cmp(&adapters[b].device_pci_bus_id));
        let first = value.split(',').next().unwrap_or("").trim();
        let given = || format!("{var}={value}");
        if ours.len() > 1 && ours.iter().any(|&i| adapters[i].device_pci_bus_id.is_empty()) {
            // Without every bus there is no PCI order, and a guess could put
            // two tasks on one GPU.
            return Err(format!(
                "{} ({} such adapters are visible, but the driver does not say on which PCI bus each is; choose one with --adapter or CNNC_ADAPTER)",
                given(),
                ours.len()
            ));
        }
        return match (ours.as_slice(), first.parse::<usize>()) {
            ([only], _) => Ok(Some(*only)),
            (_, Ok(n)) if n < ours.len() => Ok(Some(ours[n])),
            (_, Ok(_)) => Err(format!(
                "{} ({} such adapters are visible; choose one with --adapter or CNNC_ADAPTER)",
                given(),
                ours.len()
            )),
            (_, Err(_)) => Err(format!(
                "{} (not an index, which is what cnnc can match; choose the adapter with --adapter or CNNC_ADAPTER)",
                given()
            )),
        };
    }
    Ok(None)
}

/// One line about an adapter: name, backend, driver, kind.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    let driver = if info.driver_info.is_empty() {
        info.driver.clone()
    } else {
        format!("{} {}", info.driver, info.driver_info)
    };
    format!(
        "{} ({:?}, {}, {:?})",
        info.name, info.backend, driver, info.device_type
    )
}

/// A device type as a user would say it.
fn kind(device_type: wgpu::DeviceType) -> &'static str {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "CPU",
        wgpu::DeviceType::Other => "other",
    }
}

fn list(adapters: &[wgpu::AdapterInfo]) -> String {
    adapters
        .iter()
        .enumerate()
        .map(|(i, a)| format!("  {i}: {}", describe(a)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An adapter as `cnnc adapters` shows it: what it is, and the features
/// and limits that decide what cnnc can run on it.
#[derive(Debug, Clone)]
pub struct AdapterListing {
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
    /// Whether cnnc opens it when no adapter is chosen.
    pub default: bool,
}

impl AdapterListing {
    /// Every adapter, in index order, the default marked (with the
    /// process's scheduler variables, as [`super::Gpu::new`] chooses).
    pub fn all() -> Vec<AdapterListing> {
        let adapters = enumerate();
        let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(wgpu::Adapter::get_info).collect();
        let default = choose(&infos, None, |name| std::env::var(name).ok()).ok();
        adapters
            .iter()
            .zip(infos)
            .enumerate()
            .map(|(i, (adapter, info))| AdapterListing {
                info,
                features: adapter.features(),
                limits: adapter.limits(),
                default: default == Some(i),
            })
            .collect()
    }
}

impl fmt::Display for AdapterListing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.info;
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let yes_no = |feature: wgpu::Features| {
            if self.features.contains(feature) {
                "yes"
            } else {
                "no"
            }
        };
        let l = &self.limits;
        writeln!(
            f,
            "{}{}",
            info.name,
            if self.default { "  (default)" } else { "" }
        )?;
        writeln!(
            f,
            "    backend: {}, type: {}",
            info.backend,
            kind(info.device_type)
        )?;
        writeln!(
            f,
            "    driver: {}",
            if driver.is_empty() { "unknown" } else { &driver }
        )?;
        writeln!(
            f,
            "    features: subgroups {}, f16 {}, timestamp queries {}",
            yes_no(wgpu::Features::SUBGROUP),
            yes_no(wgpu::Features::SHADER_F16),
            yes_no(wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS),
        )?;
        write!(
            f,
            "    limits: buffer {}, storage binding {}, storage buffers per stage {}, workgroup storage {}, invocations per workgroup {}",
            human_bytes(l.max_buffer_size as u128),
            human_bytes(l.max_storage_buffer_binding_size as u128),
            l.max_storage_buffers_per_shader_stage,
            human_bytes(l.max_compute_workgroup_storage_size as u128),
            l.max_compute_invocations_per_workgroup,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(
        backend: wgpu::Backend,
        kind: wgpu::DeviceType,
        vendor: u32,
        bus: &str,
        name: &str,
    ) -> wgpu::AdapterInfo {
        let mut info = wgpu::AdapterInfo::new(kind, backend);
        info.vendor = vendor;
        info.device_pci_bus_id = bus.into();
        info.name = name.into();
        info
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    use wgpu::{Backend::*, DeviceType::*};

    /// A Linux machine with a GPU: lavapipe, the GPU through Vulkan, and
    /// both again through GL.
    fn machine() -> Vec<wgpu::AdapterInfo> {
        vec![
            adapter(Vulkan, Cpu, 0x10005, "", "llvmpipe (LLVM 19.1.7, 256 bits)"),
            adapter(Vulkan, DiscreteGpu, 0x10de, "0000:01:00.0", "NVIDIA RTX A4000"),
            adapter(Gl, Cpu, 0x10005, "", "llvmpipe (LLVM 19.1.7, 256 bits)"),
            adapter(Gl, DiscreteGpu, 0x10de, "", "NVIDIA RTX A4000/PCIe/SSE2"),
        ]
    }

    fn chosen(adapters: &[wgpu::AdapterInfo], choice: &str) -> Result<usize, String> {
        choose(adapters, Some(&AdapterChoice::parse(choice)), env(&[])).map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_is_the_fastest_kind_then_the_native_backend() {
        let m = machine();
        assert_eq!(
            choose(&m, None, env(&[])).unwrap(),
            1,
            "the discrete GPU, through Vulkan"
        );
        let cpu_only = [m[2].clone(), m[0].clone()];
        assert_eq!(
            choose(&cpu_only, None, env(&[])).unwrap(),
            1,
            "lavapipe before llvmpipe's GL"
        );
        let integrated = [
            adapter(Dx12, Cpu, 0x1414, "", "Microsoft Basic Render Driver"),
            adapter(Dx12, IntegratedGpu, 0x8086, "", "Intel(R) Iris(R) Xe Graphics"),
        ];
        assert_eq!(
            choose(&integrated, None, env(&[])).unwrap(),
            1,
            "integrated before WARP"
        );
        let err = choose(&[], None, env(&[])).unwrap_err().to_string();
        assert!(err.contains("apt-get install mesa-vulkan-drivers"), "{err}");
    }

    #[test]
    fn a_choice_is_an_index_a_backend_or_part_of_a_name() {
        let m = machine();
        assert_eq!(chosen(&m, "2"), Ok(2));
        assert_eq!(chosen(&m, "gl"), Ok(3), "GL's fastest: the GPU");
        assert_eq!(chosen(&m, "GLES"), Ok(3));
        assert_eq!(chosen(&m, "vulkan"), Ok(1));
        assert_eq!(chosen(&m, "llvmpipe"), Ok(0), "both match: Vulkan first");
        assert_eq!(chosen(&m, "a4000"), Ok(1));
        let err = chosen(&m, "metal").unwrap_err();
        assert!(err.starts_with("no adapter matches `metal`"), "{err}");
        assert!(err.contains("  3: NVIDIA RTX A4000/PCIe/SSE2 (Gl"), "{err}");
        assert!(chosen(&m, "4").unwrap_err().contains("no adapter matches `4`"));
        assert_eq!(AdapterChoice::parse(" D3D12 "), AdapterChoice::Backend(Dx12));
    }

    #[test]
    fn the_scheduler_s_gpu_is_chosen_in_pci_bus_order() {
        // Vulkan lists them in its own order; Slurm counts in PCI bus order.
        let adapters = [
            adapter(Vulkan, Cpu, 0x10005, "", "llvmpipe"),
            adapter(Vulkan, DiscreteGpu, 0x10de, "0000:41:00.0", "b"),
            adapter(Vulkan, DiscreteGpu, 0x10de, "0000:01:00.0", "a"),
            adapter(Vulkan, DiscreteGpu, 0x1002, "0000:81:00.0", "amd"),
            // The NVIDIA GPUs again through GL, without a bus: not counted.
            adapter(Gl, DiscreteGpu, 0x10de, "", "b/PCIe"),
            adapter(Gl, DiscreteGpu, 0x10de, "", "a/PCIe"),
        ];
        assert_eq!(scheduled_adapter(&adapters, env(&[])), Ok(None));
        assert_eq!(
            scheduled_adapter(&adapters, env(&[("CUDA_VISIBLE_DEVICES", "0")])),
            Ok(Some(2))
        );
        assert_eq!(
            scheduled_adapter(&adapters, env(&[("CUDA_VISIBLE_DEVICES", "1,0")])),
            Ok(Some(1))
        );
        assert_eq!(
            scheduled_adapter(&adapters, env(&[("ROCR_VISIBLE_DEVICES", "3")])),
            Ok(Some(3))
        );
        let err = scheduled_adapter(&adapters, env(&[("CUDA_VISIBLE_DEVICES", "2")])).unwrap_err();
        assert!(err.contains("CUDA_VISIBLE_DEVICES=2 (2 such adapters"), "{err}");
        let err = scheduled_adapter(&adapters, env(&[("CUDA_VISIBLE_DEVICES", "GPU-8f3a")])).unwrap_err();
        assert!(err.contains("not an index"), "{err}");
        // Only lavapipe: the variable speaks of no adapter here.
        assert_eq!(
            scheduled_adapter(&adapters[..1], env(&[("CUDA_VISIBLE_DEVICES", "3")])),
            Ok(None)
        );
        // One visible (a constrained task): that one, whatever the index.
        assert_eq!(
            scheduled_adapter(&adapters[..2], env(&[("CUDA_VISIBLE_DEVICES", "3")])),
            Ok(Some(1))
        );
        // The default follows the scheduler, unless CNNC_ADAPTER says otherwise.
        assert_eq!(
            choose(&adapters, None, env(&[("CUDA_VISIBLE_DEVICES", "1")])).unwrap(),
            1
        );
        let both = env(&[("CUDA_VISIBLE_DEVICES", "1"), ("CNNC_ADAPTER", "gl")]);
        assert_eq!(choose(&adapters, None, both).unwrap(), 4);
        let given = AdapterChoice::Index(0);
        assert_eq!(
            choose(&adapters, Some(&given), env(&[("CNNC_ADAPTER", "gl")])).unwrap(),
            0
        );
        // A driver that hides the bus of one of several: no order to follow.
        let unordered = [
            adapter(Vulkan, DiscreteGpu, 0x10de, "0000:41:00.0", "a"),
            adapter(Vulkan, DiscreteGpu, 0x10de, "", "b"),
        ];
        let err = scheduled_adapter(&unordered, env(&[("CUDA_VISIBLE_DEVICES", "0")])).unwrap_err();
        assert!(err.contains("does not say on which PCI bus"), "{err}");
    }
}
