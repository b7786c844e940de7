//! The instances cnnc finds adapters through: every backend wgpu is built
//! with (Vulkan, Metal, DX12, GL) through wgpu's ordinary instance, except
//! Vulkan on Linux, which is created without window-system extensions.
//!
//! wgpu enables every surface extension the driver offers. cnnc never
//! presents to a window, and with `VK_KHR_wayland_surface` enabled Mesa's
//! device-select layer connects to a Wayland display while listing
//! devices, which prints `error: XDG_RUNTIME_DIR is invalid or not set in
//! the environment.` (twice) on a machine without a desktop session.

/// The backends cnnc uses (those compiled in for the target; wgpu skips
/// the others).
const BACKENDS: wgpu::Backends = wgpu::Backends::VULKAN
    .union(wgpu::Backends::METAL)
    .union(wgpu::Backends::DX12)
    .union(wgpu::Backends::GL);

/// One instance per way of reaching the backends: on Linux, Vulkan without
/// window-system extensions, then the other backends (GL); elsewhere one
/// ordinary instance for all of them. Adapters are listed in this order.
pub(super) fn instances() -> Vec<wgpu::Instance> {
    #[cfg(target_os = "linux")]
    {
        // No Vulkan loader: only the other backends, and `Gpu::new` says
        // how to install a driver when they find nothing either.
        let vulkan = linux_vulkan::without_window_system();
        vulkan
            .into_iter()
            .chain([ordinary(BACKENDS.difference(wgpu::Backends::VULKAN))])
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        vec![ordinary(BACKENDS)]
    }
}

fn ordinary(backends: wgpu::Backends) -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

/// Vulkan on Linux (the only place wgpu-hal's Vulkan API is used
/// directly, so the other targets never name it).
#[cfg(target_os = "linux")]
mod linux_vulkan {
    use std::ffi::CStr;

    /// Whether an instance extension belongs to window-system integration:
    /// surfaces, swapchain colour spaces and displays.
    fn is_window_system(name: &CStr) -> bool {
        let name = name.to_bytes();
        let has = |part: &[u8]| name.windows(part.len()).any(|w| w == part);
        has(b"surface") || has(b"swapchain") || has(b"display")
    }

    /// A Vulkan instance without window-system extensions, or none where
    /// there is no Vulkan loader.
    pub(super) fn without_window_system() -> Option<wgpu::Instance> {
        use wgpu::hal::vulkan;
        let desc = wgpu::hal::InstanceDescriptor {
            name: "cnnc",
            flags: wgpu::InstanceFlags::default(),
            memory_budget_thresholds: Default::default(),
            backend_options: Default::default(),
            telemetry: None,
            display: None,
        };
        let without_window_system: Box<vulkan::CreateInstanceCallback> = Box::new(|args| {
            args.extensions.retain(|name| !is_window_system(name));
        });
        // SAFETY: wgpu-hal asks callbacks not to remove extensions, but it
        // consults the list the callback leaves (the instance's enabled
        // extensions) before each surface call, and cnnc creates no surface.
        let hal = unsafe { vulkan::Instance::init_with_callback(&desc, Some(without_window_system)) }.ok()?;
        // SAFETY: a Vulkan instance that wgpu-hal just created.
        Some(unsafe { wgpu::Instance::from_hal::<wgpu::hal::api::Vulkan>(hal) })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn window_system_extensions_are_recognised() {
            for name in [
                c"VK_KHR_surface",
                c"VK_KHR_wayland_surface",
                c"VK_KHR_xcb_surface",
                c"VK_EXT_swapchain_colorspace",
                c"VK_KHR_display",
                c"VK_KHR_get_display_properties2",
            ] {
                assert!(is_window_system(name), "{name:?}");
            }
            for name in [c"VK_KHR_get_physical_device_properties2", c"VK_EXT_debug_utils"] {
                assert!(!is_window_system(name), "{name:?}");
            }
        }
    }
}
