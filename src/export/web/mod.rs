//! The trained model as a static web site that runs cnnc's own inference
//! kernels in the browser, on WebGPU: the WGSL that `codegen` emits for an
//! inference plan of batch 1 (the kernels `cnnc predict` runs), the weights
//! in the parameter buffer's layout, `model.json` (see [`manifest`]) and a
//! small generic runner of it, `model.js`, with a page around it.
//!
//! ```text
//! DIR/model.js       load(base) -> { inputShape, classes, predict(pixels) }
//! DIR/model.json     buffers, kernels in order, bindings, dispatch sizes
//! DIR/weights.bin    the parameter buffer, f32 little-endian
//! DIR/kernels/*.wgsl one file per kernel
//! DIR/summary.json   `cnnc summary --json`, for the page
//! DIR/index.html, app.js, pixels.js, style.css   the page
//! ```

pub mod manifest;
pub mod serve;

use std::path::Path;

use crate::codegen::Rule;
use crate::codegen::{LowerError, LowerOptions, Plan, Purpose};
use crate::model::{Model, Registry};
use manifest::Manifest;

/// The page and the runner, written as they are: no build step, nothing
/// fetched from outside the folder.
pub const ASSETS: [(&str, &str); 5] = [
    ("model.js", include_str!("assets/model.js")),
    ("index.html", include_str!("assets/index.html")),
    ("app.js", include_str!("assets/app.js")),
    ("pixels.js", include_str!("assets/pixels.js")),
    ("style.css", include_str!("assets/style.css")),
];

/// An export, in memory.
#[derive(Debug, Clone)]
pub struct Site {
    pub manifest: Manifest,
    /// Each kernel's module (each names its kernel, so none is shared):
    /// its file, relative to the folder, and its WGSL.
    pub modules: Vec<(String, String)>,
    /// The parameter buffer's bytes.
    pub weights: Vec<u8>,
    /// `cnnc summary --json` of the model.
    pub summary: String,
}

/// The inference plan the browser runs, and its WGSL (validated by naga):
/// batch 1, the default register tiles (the page runs on GPUs that
/// `cnnc tune` never measured).
pub fn lower<K: Registry>(model: &Model<K>) -> Result<(Plan, Vec<String>), LowerError>
where
    K::Kind: Rule<K>,
{
    let options = LowerOptions {
        batch: 1,
        purpose: Purpose::Infer,
        ..LowerOptions::default()
    };
    let plan = crate::codegen::plan(model, &options)?;
    let shaders = crate::codegen::emit(&plan)?;
    Ok((plan, shaders))
}

/// The site of a plan from [`lower`], its shaders, the weights (in the
/// plan's parameter layout) and the class names.
pub fn site(plan: &Plan, shaders: &[String], params: &[f32], classes: Vec<String>, summary: String) -> Site {
    assert_eq!(params.len(), plan.params.len, "parameter count");
    let modules: Vec<(String, String)> = manifest::predict_kernels(plan)
        .into_iter()
        .map(|k| (format!("kernels/{}", plan.kernel_file(k)), shaders[k].clone()))
        .collect();
    let files: Vec<String> = modules.iter().map(|(file, _)| file.clone()).collect();
    Site {
        manifest: manifest::manifest(plan, &files, classes),
        modules,
        weights: params.iter().flat_map(|p| p.to_le_bytes()).collect(),
        summary,
    }
}

/// Writes the site as the folder `dir`, replacing an earlier export there
/// whole (no stale kernel stays beside the new ones): the site is written
/// into a sibling folder, which then takes `dir`'s place. A folder that
/// holds anything but an export is refused, not emptied.
pub fn write(site: &Site, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let holds_export = dir.join("model.json").is_file();
    if !holds_export && std::fs::read_dir(&dir)?.next().is_some() {
        return Err(std::io::Error::other(
            "the folder holds files but no cnnc export (no model.json); export into a new or empty folder",
        ));
    }
    let sibling = |what: &str| {
        let name = dir
            .file_name()
            .map_or("site".into(), |n| n.to_string_lossy().into_owned());
        dir.with_file_name(format!(".{name}.cnnc-{what}"))
    };
    let (staging, old) = (sibling("new"), sibling("old"));
    for leftover in [&staging, &old] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover)?;
        }
    }
    write_files(site, &staging)?;
    std::fs::rename(&dir, &old)?;
    std::fs::rename(&staging, &dir)?;
    std::fs::remove_dir_all(&old)
}

/// Writes the site's files into `dir`, each file whole.
fn write_files(site: &Site, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("kernels"))?;
    let json = serde_json::to_string_pretty(&site.manifest).expect("a manifest serialises");
    crate::atomic::write(&dir.join("model.json"), (json + "\n").as_bytes())?;
    crate::atomic::write(&dir.join(manifest::WEIGHTS_FILE), &site.weights)?;
    crate::atomic::write(
        &dir.join("summary.json"),
        (site.summary.clone() + "\n").as_bytes(),
    )?;
    for (file, wgsl) in &site.modules {
        crate::atomic::write(&dir.join(file), wgsl.as_bytes())?;
    }
    for (file, text) in ASSETS {
        crate::atomic::write(&dir.join(file), text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> crate::Model {
        let source = crate::source::Source::new(
            "tiny.cnn",
            "model tiny; input 4x4x1; conv 2 3x3 relu; dense 3 softmax",
        );
        crate::load(&source, &Default::default()).expect("a valid model")
    }

    /// The manifest of a small model: its kernels, bindings, buffers and
    /// first contents, as `model.js` reads them.
    #[test]
    fn manifest_of_a_small_model() {
        let model = tiny();
        let (plan, shaders) = lower(&model).unwrap();
        let params = vec![0.5; plan.params.len];
        let site = site(
            &plan,
            &shaders,
            &params,
            vec!["a".into(), "b".into(), "c".into()],
            "{}".into(),
        );
        insta::assert_json_snapshot!(site.manifest);
        assert_eq!(site.weights.len() as u64, site.manifest.weights.bytes);
        assert_eq!(site.weights[..4], 0.5f32.to_le_bytes());
        // Every kernel's file is written, and is that kernel's WGSL.
        for (k, (file, wgsl)) in site.manifest.kernels.iter().zip(&site.modules) {
            assert_eq!(&k.file, file);
            assert!(wgsl.starts_with(&format!("// {}:", k.name)), "{file}");
        }
    }

    /// A second export replaces the first whole; a folder of other files
    /// is refused and left as it was.
    #[test]
    fn an_export_replaces_an_earlier_one_whole() {
        let model = tiny();
        let (plan, shaders) = lower(&model).unwrap();
        let site = site(
            &plan,
            &shaders,
            &vec![0.5; plan.params.len],
            vec!["a".into(), "b".into(), "c".into()],
            "{}".into(),
        );
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("site");
        write(&site, &dir).unwrap();
        std::fs::write(dir.join("kernels/99_stale.wgsl"), "stale").unwrap();
        write(&site, &dir).unwrap();
        assert!(
            !dir.join("kernels/99_stale.wgsl").exists(),
            "a stale kernel stayed"
        );
        assert!(dir.join("model.json").is_file());
        let leftovers: Vec<_> = std::fs::read_dir(work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["site"], "no staging folder stays");
        let other = work.path().join("notes");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("todo.txt"), "keep").unwrap();
        assert!(write(&site, &other).is_err());
        assert_eq!(std::fs::read_to_string(other.join("todo.txt")).unwrap(), "keep");
    }
}
