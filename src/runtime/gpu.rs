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
    /// part of its name; none picks the highest-performance one.
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
