//! The open device: [`Gpu`] owns the adapter's description, the device and
//! its queue, and collects the errors wgpu reports outside error scopes.
//! Every [`Executable`](super::Executable) runs on one; there is one per
//! process, so adapter choice and error reporting live here and nowhere else.

use std::sync::{Arc, Mutex};

use super::RuntimeError;
use super::instance::instance;

/// An open device: what every executable runs on.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// Whether timestamp queries work (for `cnnc bench`).
    pub timestamps: bool,
    /// The first error wgpu reported outside an error scope, or a loss.
    errors: Arc<Mutex<Option<String>>>,
}

/// One line about an adapter: name, driver, kind.
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

impl Gpu {
    /// Every adapter wgpu can see.
    pub fn adapters() -> Vec<wgpu::AdapterInfo> {
        pollster::block_on(instance().enumerate_adapters(wgpu::Backends::VULKAN))
            .iter()
            .map(wgpu::Adapter::get_info)
            .collect()
    }

    /// Opens an adapter: `choice` is an index from [`Gpu::adapters`] or a
    /// part of its name; none picks the GPU a scheduler gave this process
    /// (see [`scheduled_adapter`]), else the highest-performance one.
    pub fn new(choice: Option<&str>) -> Result<Gpu, RuntimeError> {
        let adapter = choose_adapter(&instance(), choice)?;
        let info = adapter.get_info();
        // Timestamps inside encoders let `profile` time each compute pass
        // of one submission; without both features it times on the host.
        let wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("cnnc"),
            required_features: features,
            // The adapter's own limits: the largest buffers it can give.
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| RuntimeError::Device(e.to_string()))?;
        let errors = collect_errors(&device);
        Ok(Gpu {
            timestamps: features.contains(wanted),
            device,
            queue,
            info,
            errors,
        })
    }

    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// Waits for submitted work, then reports any error wgpu raised.
    pub fn wait(&self) -> Result<(), RuntimeError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| RuntimeError::Gpu(e.to_string()))?;
        self.check()
    }

    fn check(&self) -> Result<(), RuntimeError> {
        match self.errors.lock().unwrap().take() {
            Some(e) if e.starts_with("device lost") => Err(RuntimeError::DeviceLost(e)),
            Some(e) => Err(RuntimeError::Gpu(e)),
            None => Ok(()),
        }
    }
}

/// The adapter `choice` names (see [`Gpu::new`]), or the
/// highest-performance one.
fn choose_adapter(instance: &wgpu::Instance, choice: Option<&str>) -> Result<wgpu::Adapter, RuntimeError> {
    let Some(choice) = choice else {
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
        let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(wgpu::Adapter::get_info).collect();
        let env = |name: &str| std::env::var(name).ok();
        let buses: Vec<(u32, String)> = infos
            .iter()
            .map(|a| (a.vendor, a.device_pci_bus_id.clone()))
            .collect();
        if let Some(i) = scheduled_adapter(&buses, env).map_err(|e| RuntimeError::UnknownAdapter {
            choice: e,
            available: list(&infos),
        })? {
            return Ok(adapters[i].clone());
        }
        return pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| {
            RuntimeError::NoAdapter(format!(
                " ({e}); on a machine without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers"
            ))
        });
    };
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
    let found = match choice.parse::<usize>() {
        Ok(i) => adapters.get(i).cloned(),
        Err(_) => adapters
            .iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&choice.to_lowercase()))
            .cloned(),
    };
    found.ok_or_else(|| RuntimeError::UnknownAdapter {
        choice: choice.to_string(),
        available: list(&adapters.iter().map(wgpu::Adapter::get_info).collect::<Vec<_>>()),
    })
}

/// The variables in which schedulers (Slurm among them) name the GPUs
/// they gave a task, and the PCI vendor each speaks of.
const VISIBLE_DEVICES: [(&str, u32); 2] =
    [("CUDA_VISIBLE_DEVICES", 0x10de), ("ROCR_VISIBLE_DEVICES", 0x1002)];

/// The adapter a scheduler gave this process, as an index into `adapters`
/// (each adapter's PCI vendor and bus id).
/// The first entry of `CUDA_VISIBLE_DEVICES` (`ROCR_VISIBLE_DEVICES`),
/// an index, names the n-th NVIDIA (AMD) adapter in PCI bus order, which
/// is the order NVML gives and Slurm's GPU indices follow. When the task
/// can see only one such adapter (Slurm's `ConstrainDevices`, or a
/// container) it is that one, whatever the index. Nothing set, or no
/// adapter of that vendor (lavapipe): `None`, and the usual choice. A UUID
/// (`GPU-…`) cannot be matched (wgpu does not report Vulkan's device UUID)
/// and, like an index beyond the adapters, is an error that asks for
/// `--adapter`, rather than a guess that could share a GPU with another task.
pub fn scheduled_adapter(
    adapters: &[(u32, String)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<usize>, String> {
    for (var, vendor) in VISIBLE_DEVICES {
        let Some(value) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let mut ours: Vec<usize> = (0..adapters.len()).filter(|&i| adapters[i].0 == vendor).collect();
        ours.sort_by(|&a, &b| adapters[a].1.cmp(&adapters[b].1));
        let first = value.split(',').next().unwrap_or("").trim();
        let given = || format!("{var}={value}");
        if ours.len() > 1 && ours.iter().any(|&i| adapters[i].1.is_empty()) {
            // Without every bus there is no PCI order, and a guess could put
            // two tasks on one GPU.
            return Err(format!(
                "{} ({} such adapters are visible, but the driver does not say on which PCI bus each is; choose one with --adapter or CNNC_ADAPTER)",
                given(),
                ours.len()
            ));
        }
        match (ours.as_slice(), first.parse::<usize>()) {
            ([], _) => continue,
            ([only], _) => return Ok(Some(*only)),
            (_, Ok(n)) if n < ours.len() => return Ok(Some(ours[n])),
            (_, Ok(_)) => {
                return Err(format!(
                    "{} ({} such adapters are visible; choose one with --adapter or CNNC_ADAPTER)",
                    given(),
                    ours.len()
                ));
            }
            (_, Err(_)) => {
                return Err(format!(
                    "{} (not an index, which is what cnnc can match; choose the adapter with --adapter or CNNC_ADAPTER)",
                    given()
                ));
            }
        }
    }
    Ok(None)
}

/// The slot [`Gpu::check`] reads: errors that no error scope caught
/// (wgpu's default handler would panic on them) and the loss of the device,
/// kept first-come so the root cause is the one reported.
fn collect_errors(device: &wgpu::Device) -> Arc<Mutex<Option<String>>> {
    let errors = Arc::new(Mutex::new(None));
    let slot = errors.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        slot.lock().unwrap().get_or_insert(e.to_string());
    }));
    let slot = errors.clone();
    // Dropping the device reports `Destroyed`: that is no error.
    device.set_device_lost_callback(move |reason, message| {
        if reason != wgpu::DeviceLostReason::Destroyed {
            slot.lock()
                .unwrap()
                .get_or_insert(format!("device lost: {message}"));
        }
    });
    errors
}

fn list(adapters: &[wgpu::AdapterInfo]) -> String {
    adapters
        .iter()
        .enumerate()
        .map(|(i, a)| format!("  {i}: {}", describe(a)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(vendor: u32, bus: &str) -> (u32, String) {
        (vendor, bus.into())
    }

    #[test]
    fn the_scheduler_s_gpu_is_chosen_in_pci_bus_order() {
        // Vulkan lists them in its own order; Slurm counts in PCI bus order.
        let adapters = [
            adapter(0x10005, ""),
            adapter(0x10de, "0000:41:00.0"),
            adapter(0x10de, "0000:01:00.0"),
            adapter(0x1002, "0000:81:00.0"),
        ];
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
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
        // A driver that hides the bus of one of several: no order to follow.
        let unordered = [adapter(0x10de, "0000:41:00.0"), adapter(0x10de, "")];
        let err = scheduled_adapter(&unordered, env(&[("CUDA_VISIBLE_DEVICES", "0")])).unwrap_err();
        assert!(err.contains("does not say on which PCI bus"), "{err}");
    }
}
