//! The open device: [`Gpu`] owns the adapter's description, the device and
//! its queue, and collects the errors wgpu reports outside error scopes.
//! Every [`Executable`](super::Executable) runs on one; there is one per
//! process, so adapter choice and error reporting live here and nowhere else.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::RuntimeError;
use super::adapter::{AdapterChoice, choose, describe, enumerate};

/// An open device: what every executable runs on.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// Whether timestamp queries work (for `cnnc bench`).
    pub timestamps: bool,
    /// The first error wgpu reported outside an error scope, or a loss.
    errors: Arc<Mutex<Option<String>>>,
    /// Dispatches and submissions so far, counted where they are made.
    pub(super) counts: Arc<WorkCounters>,
}

/// Work handed to the device, counted as it is recorded: kernel
/// launches cost most on real GPUs, so `cnnc bench` reports them per step.
#[derive(Debug, Default)]
pub(super) struct WorkCounters {
    dispatches: AtomicU64,
    submissions: AtomicU64,
}

impl WorkCounters {
    pub(super) fn dispatched(&self) {
        self.dispatches.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn submitted(&self) {
        self.submissions.fetch_add(1, Ordering::Relaxed);
    }
}

/// Dispatches and queue submissions since the device opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Work {
    pub dispatches: u64,
    pub submissions: u64,
}

impl std::ops::Sub for Work {
    type Output = Work;
    fn sub(self, earlier: Work) -> Work {
        Work {
            dispatches: self.dispatches - earlier.dispatches,
            submissions: self.submissions - earlier.submissions,
        }
    }
}

impl Gpu {
    /// Opens an adapter: `choice` is an index from `cnnc adapters`, a
    /// backend or a part of a name (see [`AdapterChoice`]); none picks the
    /// one `CNNC_ADAPTER` names, else the GPU a scheduler gave this
    /// process, else the fastest kind present (see [`super::adapter::choose`]).
    pub fn new(choice: Option<&str>) -> Result<Gpu, RuntimeError> {
        let adapters = enumerate();
        let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(wgpu::Adapter::get_info).collect();
        let choice = choice.map(AdapterChoice::parse);
        let chosen = choose(&infos, choice.as_ref(), |name| std::env::var(name).ok())?;
        let adapter = &adapters[chosen];
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
            counts: Arc::default(),
        })
    }

    /// The dispatches and submissions made on this device so far.
    pub fn work(&self) -> Work {
        Work {
            dispatches: self.counts.dispatches.load(Ordering::Relaxed),
            submissions: self.counts.submissions.load(Ordering::Relaxed),
        }
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
