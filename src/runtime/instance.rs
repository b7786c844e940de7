//! The Vulkan instance, created without window-system extensions.
//!
//! wgpu enables every surface extension the driver offers. cnnc never
//! presents to a window, and with `VK_KHR_wayland_surface` enabled Mesa's
//! device-select layer connects to a Wayland display while listing
//! devices, which prints `error: XDG_RUNTIME_DIR is invalid or not set in
//! the environment.` (twice) on a machine without a desktop session.

use std::ffi::CStr;

/// Whether an instance extension belongs to window-system integration:
/// surfaces, swapchain colour spaces and displays.
pub(super) fn is_window_system(name: &CStr) -> bool {
    let name = name.to_bytes();
    let has = |part: &[u8]| name.windows(part.len()).any(|w| w == part);
    has(b"surface") || has(b"swapchain") || has(b"display")
}

pub(super) fn instance() -> wgpu::Instance {
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
    match unsafe { vulkan::Instance::init_with_callback(&desc, Some(without_window_system)) } {
        // SAFETY: a Vulkan instance that wgpu-hal just created.
        Ok(hal) => unsafe { wgpu::Instance::from_hal::<wgpu::hal::api::Vulkan>(hal) },
        // No Vulkan loader: wgpu's own instance then finds no adapter and
        // `Gpu::new` says how to install one.
        Err(_) => wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        }),
    }
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
