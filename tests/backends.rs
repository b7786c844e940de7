//! Kernels any backend accepts. Every kernel of every example (training
//! with each optimizer and with augmentation, and inference, at the batch
//! sizes the tests and the CLI's default use) stays within WebGPU's
//! default limits, which every wgpu backend gives, and naga translates it
//! for each backend: SPIR-V (Vulkan; checked by `spirv-val` where
//! SPIRV-Tools is installed), MSL (Metal), HLSL (DX12) and GLSL (GL).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cnnc::augment::Augment;
use cnnc::codegen::{Kernel, KernelNeeds, LowerOptions, OptimizerKind, Purpose, template};
use cnnc::model::CheckOptions;
use cnnc::source::Source;

/// Batch sizes of the tests (1, 8, 32) and the CLI's default (128).
const BATCHES: [usize; 4] = [1, 8, 32, 128];

/// A kernel as emitted, with where it came from.
struct Emitted {
    /// `example.cnn purpose batch kernel`, for messages.
    origin: String,
    kernel: Kernel,
    wgsl: String,
}

fn plan_options() -> Vec<(&'static str, LowerOptions)> {
    let train = |optimizer| LowerOptions {
        optimizer,
        ..LowerOptions::default()
    };
    vec![
        ("train sgd", train(OptimizerKind::Sgd)),
        ("train adam", train(OptimizerKind::Adam)),
        (
            "train adamw",
            LowerOptions {
                weight_decay: true,
                ..train(OptimizerKind::AdamW)
            },
        ),
        (
            "train augmented",
            LowerOptions {
                augment: "flip,shift:2,crop:4".parse::<Augment>().unwrap(),
                ..train(OptimizerKind::Adam)
            },
        ),
        (
            "infer",
            LowerOptions {
                purpose: Purpose::Infer,
                ..LowerOptions::default()
            },
        ),
    ]
}

/// Every kernel of every example's plans, as the runtime would plan them
/// for an adapter with WebGPU's default limits; made once for both tests.
fn every_kernel() -> &'static [Emitted] {
    static KERNELS: OnceLock<Vec<Emitted>> = OnceLock::new();
    KERNELS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= 10, "examples: {files:?}");
        in_parallel(&files, |path| example_kernels(path))
            .into_iter()
            .flatten()
            .collect()
    })
}

fn example_kernels(path: &std::path::Path) -> Vec<Emitted> {
    let source = Source::read(path).unwrap();
    let options = CheckOptions {
        default_name: source.stem(),
        ..CheckOptions::default()
    };
    let model = cnnc::load(&source, &options).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut kernels = Vec::new();
    for batch in BATCHES {
        for (purpose, options) in plan_options() {
            let options = LowerOptions {
                batch,
                samples_per_chunk: cnnc::runtime::chunk_samples(
                    &wgpu::Limits::default(),
                    model.input.elements(),
                ),
                ..options
            };
            let plan = cnnc::codegen::plan(&model, &options).unwrap();
            // As `codegen::emit` writes them, without its validation: the
            // translation test validates each distinct module.
            for kernel in &plan.kernels {
                kernels.push(Emitted {
                    origin: format!("{file} {purpose} batch {batch}: {}", kernel.name),
                    kernel: kernel.clone(),
                    wgsl: template::emit(&kernel.name, kernel.template, &kernel.header),
                });
            }
        }
    }
    kernels
}

/// `f` over `items` on every core, results in order.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn every_kernel_fits_webgpu_s_default_limits() {
    let defaults = wgpu::Limits::default();
    let mut over = Vec::new();
    // The largest of each need, to show how much room is left.
    let mut most: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    let kernels = every_kernel();
    // Read once per distinct module; the dispatch is each kernel's own.
    let mut read: BTreeMap<&str, KernelNeeds> = BTreeMap::new();
    for k in kernels {
        let module = *read
            .entry(&k.wgsl)
            .or_insert_with(|| KernelNeeds::of(&k.kernel, &k.wgsl).unwrap());
        let needs = KernelNeeds {
            workgroups: k.kernel.workgroups.iter().copied().max().unwrap(),
            ..module
        };
        if let Some((limit, need, allowed)) = cnnc::runtime::exceeded(&needs, &defaults) {
            over.push(format!(
                "{}: needs {need} for {limit}, WebGPU gives {allowed}",
                k.origin
            ));
        }
        for (name, value) in [
            ("storage buffers", needs.storage_buffers as u64),
            ("uniform buffers", needs.uniform_buffers as u64),
            ("invocations", needs.invocations as u64),
            ("workgroup storage", needs.workgroup_storage as u64),
            ("workgroups", needs.workgroups as u64),
        ] {
            let entry = most.entry(name).or_default();
            if value > entry.0 {
                *entry = (value, k.origin.clone());
            }
        }
    }
    eprintln!("{} kernels; the most any needs:", kernels.len());
    for (name, (value, origin)) in &most {
        eprintln!("  {name}: {value} ({origin})");
    }
    assert!(
        over.is_empty(),
        "over WebGPU's default limits:\n{}",
        over.join("\n")
    );
    // The counting itself: the gather kernel's bindings are known.
    let gather = kernels.iter().find(|k| k.kernel.name == "gather").unwrap();
    let needs = KernelNeeds::of(&gather.kernel, &gather.wgsl).unwrap();
    assert_eq!((needs.storage_buffers, needs.uniform_buffers), (6, 1));
}

/// Each distinct module once (many plans share kernels).
fn distinct_modules() -> Vec<(String, String)> {
    let mut seen = BTreeMap::new();
    for k in every_kernel() {
        seen.entry(k.wgsl.clone()).or_insert(k.origin.clone());
    }
    seen.into_iter().map(|(wgsl, origin)| (origin, wgsl)).collect()
}

fn parse(origin: &str, wgsl: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module =
        naga::front::wgsl::parse_str(wgsl).unwrap_or_else(|e| panic!("{origin}: {}", e.emit_to_string(wgsl)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{origin}: {}", e.emit_to_string(wgsl)));
    (module, info)
}

/// Bounds checks as wgpu asks for them where the driver gives no robust
/// access: the translation every backend must manage.
fn restrict() -> naga::proc::BoundsCheckPolicies {
    naga::proc::BoundsCheckPolicies {
        index: naga::proc::BoundsCheckPolicy::Restrict,
        buffer: naga::proc::BoundsCheckPolicy::Restrict,
        image_load: naga::proc::BoundsCheckPolicy::Restrict,
        binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
    }
}

fn spirv(module: &naga::Module, info: &naga::valid::ModuleInfo) -> Result<Vec<u32>, String> {
    let options = naga::back::spv::Options {
        // Vulkan 1.1's SPIR-V, as wgpu writes for lavapipe and most drivers.
        lang_version: (1, 3),
        bounds_check_policies: restrict(),
        ..Default::default()
    };
    let pipeline = naga::back::spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".into(),
    };
    naga::back::spv::write_vec(module, info, &options, Some(&pipeline)).map_err(|e| e.to_string())
}

fn msl(module: &naga::Module, info: &naga::valid::ModuleInfo) -> Result<String, String> {
    let options = naga::back::msl::Options {
        // macOS 11, the oldest system on Apple silicon.
        lang_version: (2, 3),
        bounds_check_policies: restrict(),
        ..Default::default()
    };
    let pipeline = naga::back::msl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, "main".into())),
        ..Default::default()
    };
    naga::back::msl::write_string(module, info, &options, &pipeline)
        .map(|(text, _)| text)
        .map_err(|e| e.to_string())
}

fn hlsl(module: &naga::Module, info: &naga::valid::ModuleInfo) -> Result<String, String> {
    // Shader model 5.1, the lowest wgpu's DX12 backend uses.
    let options = naga::back::hlsl::Options::default();
    let pipeline = naga::back::hlsl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, "main".into())),
    };
    let mut text = String::new();
    naga::back::hlsl::Writer::new(&mut text, &options, &pipeline)
        .write(module, info, None)
        .map_err(|e| e.to_string())?;
    Ok(text)
}

fn glsl(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    version: naga::back::glsl::Version,
) -> Result<String, String> {
    let options = naga::back::glsl::Options {
        version,
        ..Default::default()
    };
    let pipeline = naga::back::glsl::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".into(),
        multiview: None,
    };
    let mut text = String::new();
    naga::back::glsl::Writer::new(&mut text, module, info, &options, &pipeline, restrict())
        .and_then(|mut w| w.write())
        .map_err(|e| e.to_string())?;
    Ok(text)
}

fn spirv_val_missing() -> bool {
    std::process::Command::new("spirv-val")
        .arg("--version")
        .output()
        .is_err()
}

/// What `spirv-val` says is wrong with a binary, if anything.
fn spirv_val(dir: &std::path::Path, (origin, words): &(String, Vec<u32>)) -> Option<String> {
    let name: String = origin
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{name}.spv"));
    std::fs::write(&path, bytemuck::cast_slice::<u32, u8>(words)).unwrap();
    let out = std::process::Command::new("spirv-val")
        .args(["--target-env", "vulkan1.1"])
        .arg(&path)
        .output()
        .unwrap();
    (!out.status.success()).then(|| {
        format!(
            "{origin}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Translates one module for every backend: its SPIR-V, or what failed.
fn translate(origin: &str, wgsl: &str) -> Result<Vec<u32>, Vec<String>> {
    let (module, info) = parse(origin, wgsl);
    let mut failures = Vec::new();
    // Each translation with the mark of a compute entry point in its language.
    let mut check = |backend: &str, result: Result<String, String>, entry: &str| match result {
        Ok(text) if text.contains(entry) => {}
        Ok(text) => failures.push(format!("{origin}: {backend} has no `{entry}`:\n{text}")),
        Err(e) => failures.push(format!("{origin}: {backend}: {e}")),
    };
    check("MSL", msl(&module, &info), "kernel void");
    check("HLSL", hlsl(&module, &info), "[numthreads(");
    let es = naga::back::glsl::Version::new_gles(310);
    check("GLSL ES 3.10", glsl(&module, &info, es), "local_size_x");
    let desktop = naga::back::glsl::Version::Desktop(430);
    check("GLSL 4.30", glsl(&module, &info, desktop), "local_size_x");
    match spirv(&module, &info) {
        Ok(words) if failures.is_empty() => Ok(words),
        Ok(_) => Err(failures),
        Err(e) => {
            failures.push(format!("{origin}: SPIR-V: {e}"));
            Err(failures)
        }
    }
}

#[test]
fn every_kernel_translates_for_every_backend() {
    let modules = distinct_modules();
    let results = in_parallel(&modules, |(origin, wgsl)| translate(origin, wgsl));
    let mut failures = Vec::new();
    let mut binaries = Vec::new();
    for ((origin, _), result) in modules.iter().zip(results) {
        match result {
            Ok(words) => binaries.push((origin.clone(), words)),
            Err(f) => failures.extend(f),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    if spirv_val_missing() {
        eprintln!(
            "skipping spirv-val: SPIRV-Tools is not installed (apt-get install spirv-tools); the SPIR-V was written but not validated"
        );
    } else {
        let dir = tempfile::tempdir().unwrap();
        let invalid: Vec<String> = in_parallel(&binaries, |b| spirv_val(dir.path(), b))
            .into_iter()
            .flatten()
            .collect();
        assert!(invalid.is_empty(), "spirv-val:\n{}", invalid.join("\n"));
    }
    eprintln!("{} distinct kernels translated", modules.len());
}

/// The validation above can fail: a kernel's SPIR-V with its entry point's
/// execution model broken is caught.
#[test]
fn spirv_val_catches_a_broken_binary() {
    if spirv_val_missing() {
        eprintln!("skipping: SPIRV-Tools is not installed (apt-get install spirv-tools)");
        return;
    }
    let (origin, wgsl) = &distinct_modules()[0];
    let mut words = translate(origin, wgsl).unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(spirv_val(dir.path(), &(origin.clone(), words.clone())), None);
    // OpEntryPoint (opcode 15): its execution model, GLCompute (5), made
    // Vertex (0), whose interface a compute kernel's does not fit.
    let at = (5..words.len()).find(|&i| words[i] & 0xffff == 15).unwrap();
    words[at + 1] = 0;
    let err = spirv_val(dir.path(), &(origin.clone(), words)).expect("spirv-val rejects it");
    assert!(err.contains("error"), "{err}");
}
