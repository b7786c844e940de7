//! `cnnc export --web` in a real browser: each model is trained briefly
//! through the CLI, exported, served with `cnnc serve`, and loaded by
//! Chromium (WebGPU on SwiftShader, its CPU Vulkan) from a page that
//! imports `model.js` as an embedding page would (`tests/web/harness.html`).
//! The page predicts test images and posts the probabilities to a listener
//! of this test; they must equal `cnnc predict --json`'s within 1e-4. A
//! weight perturbed in the exported `weights.bin` must be caught.
//!
//! Images are MNIST's test digits from `../shared/data/mnist` when present,
//! else generated digits-like strokes. Without Chromium the tests say so
//! and pass (`.ci/run` installs it); `CNNC_CHROMIUM` names another binary.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const TOLERANCE: f32 = 1e-4;
const IMAGES: usize = 4;
/// How long the page may take (SwiftShader compiles every kernel).
const PAGE_TIMEOUT: Duration = Duration::from_secs(120);

/// Chromium's headless shell (or Chromium), or `None` with the reason printed.
fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let candidates: Vec<PathBuf> = match std::env::var_os("CNNC_CHROMIUM") {
        Some(path) => vec![path.into()],
        None => ["chromium-headless-shell", "chromium"]
            .iter()
            .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
            .collect(),
    };
    if let Some(chosen) = std::env::var_os("CNNC_CHROMIUM") {
        // Named on purpose: a wrong path is a broken setup, not a skip.
        assert!(
            Path::new(&chosen).is_file(),
            "CNNC_CHROMIUM={} is not a file",
            Path::new(&chosen).display()
        );
    }
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        eprintln!(
            "skipped: no chromium-headless-shell or chromium (apt-get install chromium-headless-shell)"
        );
    }
    found
}

/// The input shapes the tests use: MNIST's and CIFAR-10's.
const DIGITS: [usize; 3] = [28, 28, 1];
const COLOUR: [usize; 3] = [32, 32, 3];

/// `count` test images of `shape` (HWC bytes): MNIST's first test digits,
/// or (another shape, or no shared data) generated bars and noise.
fn test_images(count: usize, shape: [usize; 3]) -> Vec<Vec<u8>> {
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist/t10k-images-idx3-ubyte.gz");
    if let (DIGITS, Ok(file)) = (shape, std::fs::File::open(&mnist)) {
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut bytes)
            .unwrap();
        return (0..count)
            .map(|i| bytes[16 + i * 784..16 + (i + 1) * 784].to_vec())
            .collect();
    }
    let [h, w, c] = shape;
    (0..count)
        .map(|i| {
            (0..h * w * c)
                .map(|p| {
                    let (y, x, ch) = (p / (w * c), p / c % w, p % c);
                    let on = (x + 2 * i).abs_diff(w / 2) < 2 + i || y == 6 + 3 * i;
                    if on && ch <= i % 3 {
                        255
                    } else {
                        ((x * 7 + y * 13 + ch * 5) % 31) as u8
                    }
                })
                .collect()
        })
        .collect()
}

fn save(pixels: &[u8], [h, w, c]: [usize; 3], path: &Path) {
    let (h, w, px) = (h as u32, w as u32, pixels.to_vec());
    match c {
        1 => image::GrayImage::from_raw(w, h, px).unwrap().save(path).unwrap(),
        _ => image::RgbImage::from_raw(w, h, px).unwrap().save(path).unwrap(),
    }
}

/// The data to train on: MNIST for digits when present, else a folder of
/// generated images (labels 0..IMAGES).
fn training_data(work: &Path, shape: [usize; 3]) -> String {
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if shape == DIGITS && mnist.join("train-images-idx3-ubyte.gz").is_file() {
        return format!("mnist:{}", mnist.display());
    }
    let folder = work.join(format!("folder{}", shape[2]));
    for (label, px) in test_images(IMAGES, shape).into_iter().enumerate() {
        let dir = folder.join(label.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        for copy in 0..4 {
            save(&px, shape, &dir.join(format!("{copy}.png")));
        }
    }
    format!("folder:{}", folder.display())
}

/// Trains a model for one short epoch; returns its weights.
fn train(work: &Path, data: &str, file: &str, set: &[&str]) -> PathBuf {
    let out = work.join("run");
    let mut args = vec![
        "train",
        file,
        "--data",
        data,
        "--limit",
        "256",
        "--val-limit",
        "32",
    ];
    args.extend(["--batch", "32", "--epochs", "1", "--out", out.to_str().unwrap()]);
    args.extend(set);
    common::ok(&common::cnnc(&args));
    out.join("model.safetensors")
}

/// Writes the images as PNGs and `inputs.json` (the pixels the page sends,
/// and a colour image of another size that the page resizes and converts
/// itself); returns `cnnc predict --json`'s probabilities, by class index.
fn predict_natively(
    work: &Path,
    site: &Path,
    (file, set, shape): Model,
    weights: &Path,
    classes: &[String],
) -> Vec<Vec<f32>> {
    let images = test_images(IMAGES, shape);
    let mut paths = Vec::new();
    for (i, px) in images.iter().enumerate() {
        let path = work.join(format!("image{i}.png"));
        save(px, shape, &path);
        paths.push(path.to_str().unwrap().to_string());
    }
    let colour = site.join("colour.png");
    colour_image(&images[0], shape).save(&colour).unwrap();
    paths.push(colour.to_str().unwrap().to_string());
    let pixels: Vec<Vec<f32>> = images
        .iter()
        .map(|px| px.iter().map(|&b| b as f32 / 255.0).collect())
        .collect();
    let inputs = json!({ "images": pixels, "files": ["colour.png"] });
    std::fs::write(site.join("inputs.json"), inputs.to_string()).unwrap();
    let top = classes.len().to_string();
    let mut args = vec![
        "predict",
        file,
        "--weights",
        weights.to_str().unwrap(),
        "--json",
        "--top",
        &top,
    ];
    args.extend(set);
    args.extend(paths.iter().map(String::as_str));
    let predictions: Value = serde_json::from_str(&common::ok(&common::cnnc(&args))).unwrap();
    predictions
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut probs = vec![f32::NAN; classes.len()];
            for pair in p["top"].as_array().unwrap() {
                let class = classes
                    .iter()
                    .position(|c| c == pair[0].as_str().unwrap())
                    .unwrap();
                probs[class] = pair[1].as_f64().unwrap() as f32;
            }
            probs
        })
        .collect()
}

/// An image's first channel as a 34x40 colour image: `cnnc predict` and
/// the page must both resize it to the model's input (the image crate's
/// triangle filter) and, for one channel, take its luma.
fn colour_image(pixels: &[u8], [h, w, c]: [usize; 3]) -> image::RgbImage {
    image::RgbImage::from_fn(40, 34, |x, y| {
        let v = pixels[((y as usize * h / 34) * w + x as usize * w / 40) * c];
        image::Rgb([v, (v as u32 * 3 / 5) as u8, 255 - v / 2])
    })
}

/// Kills a child of this test, and every process it started, when
/// dropped, whatever happens: Debian's `chromium-headless-shell` is a shell
/// script that does not `exec` the browser, which forks a dozen processes,
/// and those would otherwise outlive the test (holding whatever files the
/// test inherited open, such as a build lock).
struct Killed(Child);

impl Killed {
    /// Spawns `command` as the leader of a new process group.
    fn group(command: &mut Command) -> Killed {
        use std::os::unix::process::CommandExt;
        Killed(command.process_group(0).spawn().unwrap())
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        // The group's id is the leader's pid: `kill -- -PGID` ends them all.
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cnnc serve DIR --port 0`, and the URL it printed.
fn serve(site: &Path) -> (Killed, String) {
    let mut child = common::command(&["serve", site.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("cnnc serve printed no URL: {line:?}"))
        .to_string();
    (Killed(child), url)
}

/// Opens the harness in Chromium and returns what the page posted: the
/// body of the first POST to a listener on 127.0.0.1.
fn run_page(chromium: &Path, url: &str, profile: &Path) -> Value {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, posted) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(body) = read_post(stream) {
                let _ = sender.send(body);
            }
        }
    });
    let _browser = Killed::group(
        Command::new(chromium)
            .args([
                "--headless",
                // Chromium's sandbox refuses to run as root, which CI is;
                // the page is our own.
                "--no-sandbox",
                // WebGPU on Linux is behind this flag.
                "--enable-unsafe-webgpu",
                // SwiftShader, Chromium's own CPU Vulkan: the same adapter on
                // every machine, GPU or not.
                "--use-webgpu-adapter=swiftshader",
                &format!("--user-data-dir={}", profile.display()),
                &format!("{url}harness.html?report={port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let body = posted
        .recv_timeout(PAGE_TIMEOUT)
        .unwrap_or_else(|_| panic!("the page posted nothing in {PAGE_TIMEOUT:?}"));
    serde_json::from_str(&body).unwrap()
}

/// The body of a POST request, answered with 204; `None` for anything else.
fn read_post(mut stream: std::net::TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request = String::new();
    reader.read_line(&mut request).ok()?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    request
        .starts_with("POST")
        .then(|| String::from_utf8_lossy(&body).into_owned())
}

/// A model file, its `--set` flags, and its input shape.
type Model<'a> = (&'a str, &'a [&'a str], [usize; 3]);

/// A model exported, served and predicted in the browser: the largest
/// difference from `cnnc predict`, after the page's own checks.
fn browser_against_native(
    chromium: &Path,
    work: &Path,
    model: Model,
    weights: &Path,
    perturb: impl FnOnce(&Path),
) -> f32 {
    let (file, set, shape) = model;
    let site = work.join("site");
    let mut args = vec![
        "export",
        file,
        "--weights",
        weights.to_str().unwrap(),
        "--web",
        site.to_str().unwrap(),
    ];
    args.extend(set);
    common::ok(&common::cnnc(&args));
    std::fs::write(site.join("harness.html"), include_str!("web/harness.html")).unwrap();
    let manifest: Value = serde_json::from_slice(&std::fs::read(site.join("model.json")).unwrap()).unwrap();
    let classes: Vec<String> = serde_json::from_value(manifest["classes"].clone()).unwrap();
    let native = predict_natively(work, &site, model, weights, &classes);
    perturb(&site);
    let (_server, url) = serve(&site);
    let page = run_page(chromium, &url, &work.join("profile"));
    assert!(
        page.get("error").is_none(),
        "{file}: the page failed: {}",
        page["error"]
    );
    assert_eq!(page["inputShape"], json!(shape));
    assert_eq!(page["classes"], manifest["classes"]);
    let web: Vec<Vec<f32>> = serde_json::from_value(page["probabilities"].clone()).unwrap();
    assert_eq!(web.len(), native.len());
    let mut worst = 0f32;
    for (w, n) in web.iter().zip(&native) {
        assert_eq!(w.len(), n.len());
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{w:?} sums to 1");
        for (a, b) in w.iter().zip(n) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!(
        "{file} {set:?}: largest difference from cnnc predict {worst:.2e} ({IMAGES} images, and one of 34x40 that the page resized)"
    );
    worst
}

/// Trains, exports and predicts each model in the browser and natively.
fn check_models(models: &[Model]) {
    let Some(chromium) = browser() else { return };
    let work = tempfile::tempdir().unwrap();
    for (i, &(file, set, shape)) in models.iter().enumerate() {
        let model_dir = work.path().join(format!("model{i}"));
        std::fs::create_dir_all(&model_dir).unwrap();
        let data = training_data(work.path(), shape);
        let weights = train(&model_dir, &data, file, set);
        let worst = browser_against_native(&chromium, &model_dir, (file, set, shape), &weights, |_| {});
        assert!(
            worst < TOLERANCE,
            "{file}: the browser's probabilities differ from cnnc predict's by {worst}"
        );
    }
}

/// A chain with pools and dense layers, batchnorm (running statistics after
/// a conv and after a dense), two graphs (residual additions; global
/// pooling), grouped (depthwise) convolutions, and colour images.
#[test]
fn browser_predicts_what_cnnc_predicts() {
    check_models(&[
        ("examples/mnist.cnn", &["--set", "width=4"], DIGITS),
        ("examples/mnist_bn.cnn", &["--set", "width=4"], DIGITS),
        ("examples/mnist_residual.cnn", &["--set", "width=4"], DIGITS),
        ("examples/mnist_gap.cnn", &["--set", "width=4"], DIGITS),
        ("examples/mnist_separable.cnn", &[], DIGITS),
        ("examples/cifar_model1.cnn", &[], COLOUR),
    ]);
}

/// Every example, at its own sizes (slow: `cargo test --test web_export --
/// --ignored`).
#[test]
#[ignore]
fn every_example_runs_in_the_browser() {
    let mut models = Vec::new();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let shape = if text.contains("32x32x3") { COLOUR } else { DIGITS };
        models.push((
            format!("examples/{}", path.file_name().unwrap().to_str().unwrap()),
            shape,
        ));
    }
    models.sort();
    let models: Vec<Model> = models
        .iter()
        .map(|(f, shape)| (f.as_str(), &[][..], *shape))
        .collect();
    check_models(&models);
}

/// One weight changed in the exported `weights.bin` (0.5 added to the last
/// layer's first bias) must show as a difference from `cnnc predict`.
#[test]
fn a_perturbed_weight_is_caught() {
    let Some(chromium) = browser() else { return };
    let work = tempfile::tempdir().unwrap();
    let data = training_data(work.path(), DIGITS);
    let (file, set): (&str, &[&str]) = ("examples/mnist.cnn", &["--set", "width=4"]);
    let weights = train(work.path(), &data, file, set);
    let perturb = |site: &Path| {
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(site.join("model.json")).unwrap()).unwrap();
        let bias = manifest["weights"]["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|t| t["role"] == "bias")
            .unwrap();
        assert_eq!(bias["name"], "dense2.bias");
        let at = 4 * bias["offset"].as_u64().unwrap() as usize;
        let path = site.join("weights.bin");
        let mut bytes = std::fs::read(&path).unwrap();
        let value = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) + 0.5;
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
    };
    let worst = browser_against_native(&chromium, work.path(), (file, set, DIGITS), &weights, perturb);
    assert!(
        worst > 1e-3,
        "a changed weight went unnoticed: largest difference {worst}"
    );
}

/// `cnnc serve` over real HTTP (no browser needed): the types the browser
/// insists on, and no way out of the folder.
#[test]
fn serve_answers_with_types_and_stays_inside_the_folder() {
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    for (file, text) in [("model.json", "{}"), ("model.js", "export {}"), ("k.wgsl", "")] {
        std::fs::write(site.join(file), text).unwrap();
    }
    std::fs::write(work.path().join("secret.txt"), "secret").unwrap();
    let (_server, url) = serve(&site);
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let js = get("/model.js");
    assert!(js.starts_with("HTTP/1.1 200"), "{js}");
    assert!(
        js.to_lowercase().contains("content-type: text/javascript"),
        "{js}"
    );
    assert!(get("/k.wgsl").to_lowercase().contains("content-type: text/wgsl"));
    for escape in ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"] {
        let response = get(escape);
        assert!(response.starts_with("HTTP/1.1 403"), "{escape}: {response}");
        assert!(!response.contains("secret"), "{escape}: {response}");
    }
    assert!(get("/missing.js").starts_with("HTTP/1.1 404"));
}

/// `cnnc serve` of a folder that holds no export says so.
#[test]
fn serve_refuses_a_folder_without_an_export() {
    let work = tempfile::tempdir().unwrap();
    let out = common::cnnc(&["serve", work.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::text(&out.stderr).contains("no model.json"),
        "{}",
        common::text(&out.stderr)
    );
}
