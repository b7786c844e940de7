//! Datasets by name, without the internet: a server on 127.0.0.1
//! (`data_download/mirror.rs`) serves small archives with the real layouts
//! and names. The library's download is given sets with those archives'
//! own checksums (a `SetSpec` is a value; the commands only ever use the
//! official catalogue); the binary is run against the server through
//! `CNNC_DATA_MIRROR` for what does not need a checksum to pass, and reads
//! caches that the library filled.

mod common;
#[path = "data_download/mirror.rs"]
mod mirror;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use cnnc::data::named::{Catalogue, FetchError, Named, SetSpec, Store};
use common::{ok, text};
use mirror::{Behaviour, Mirror, paths, test_set};

/// A port nothing listens on: a command given it as its mirror fails at
/// once if it tries the network.
const NO_SERVER: &str = "http://127.0.0.1:1";

fn official(name: &str) -> SetSpec {
    Catalogue::official().set(name).unwrap().clone()
}

fn store(root: &Path) -> Store {
    Store {
        root: root.to_path_buf(),
        mirror: None,
    }
}

/// Every file under `dir` (hidden ones too), relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The binary with this cache and mirror, and no proxy from the caller.
fn cnnc(args: &[&str], root: &Path, mirror: &str) -> Output {
    let mut command = common::command(args);
    command.env("CNNC_DATA_DIR", root).env("CNNC_DATA_MIRROR", mirror);
    for var in ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"] {
        command.env_remove(var).env_remove(var.to_lowercase());
    }
    command.output().unwrap()
}

/// A cifar10 set served by a new server.
fn cifar10_served() -> (Mirror, SetSpec) {
    let archive = mirror::cifar10_archive();
    let server = Mirror::start(paths(&official("cifar10"), std::slice::from_ref(&archive)));
    let set = test_set(&official("cifar10"), &[archive], &server.url);
    (server, set)
}

#[test]
fn first_use_downloads_verifies_unpacks_and_caches() {
    let (server, set) = cifar10_served();
    let root = tempfile::tempdir().unwrap();
    let dir = store(root.path()).ensure(&set).unwrap();
    assert_eq!(dir, root.path().join("cifar10/cifar-10-batches-bin"));
    // The archive is gone once unpacked, and no part is left.
    let mut expected = vec![".cnnc-complete.json".to_string(), ".lock".into()];
    expected.extend(
        [
            "batches.meta.txt",
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
        ]
        .iter()
        .chain(&[
            "data_batch_4.bin",
            "data_batch_5.bin",
            "readme.html",
            "test_batch.bin",
        ])
        .map(|f| format!("cifar-10-batches-bin/{f}")),
    );
    assert_eq!(listing(&root.path().join("cifar10")), expected);
    let splits = Named::Cifar10.read(&dir).unwrap();
    assert_eq!(splits.train.len(), 15);
    assert_eq!(&splits.train.labels[..4], &[3, 4, 5, 6]);
    assert_eq!(splits.test.unwrap().labels, [0, 1]);
    assert_eq!(server.seen().len(), 1);

    // The second use reads the cache: any request would now fail.
    server.set(Behaviour::Status(500, "Internal Server Error"));
    assert_eq!(store(root.path()).ensure(&set).unwrap(), dir);
    assert_eq!(server.seen().len(), 1);
}

/// Each layout is unpacked where its reader looks: CIFAR-100 (both label
/// sets, with its class names) and an IDX set kept as `.gz` files.
#[test]
fn cifar100_and_idx_sets_unpack_to_what_their_readers_read() {
    let archive = mirror::cifar100_archive();
    let server = Mirror::start(paths(&official("cifar100"), std::slice::from_ref(&archive)));
    let set = test_set(&official("cifar100"), &[archive], &server.url);
    let root = tempfile::tempdir().unwrap();
    let dir = store(root.path()).ensure(&set).unwrap();
    assert_eq!(dir, root.path().join("cifar100/cifar-100-binary"));
    let fine = Named::Cifar100.read(&dir).unwrap();
    assert_eq!(
        (fine.train.labels.as_slice(), fine.test.unwrap().labels),
        (&[99, 98, 97, 96][..], vec![50, 51])
    );
    assert_eq!(fine.class_names.unwrap()[99], "fine99");
    let coarse = Named::Cifar100Coarse.read(&dir).unwrap();
    assert_eq!(coarse.train.labels, [19, 18, 17, 16]);
    assert_eq!(coarse.class_names.unwrap()[0], "coarse0");

    let idx = |dims: &[u32], data: &[u8]| {
        let mut bytes = vec![0, 0, 8, dims.len() as u8];
        dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
        bytes.extend(data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        gz.finish().unwrap()
    };
    let files = [
        idx(&[3, 2, 2], &[7; 12]),
        idx(&[3], &[9, 0, 4]),
        idx(&[1, 2, 2], &[1; 4]),
        idx(&[1], &[5]),
    ];
    let server = Mirror::start(paths(&official("fashion-mnist"), &files));
    let set = test_set(&official("fashion-mnist"), &files, &server.url);
    let dir = store(root.path()).ensure(&set).unwrap();
    assert_eq!(dir, root.path().join("fashion-mnist"));
    let splits = Named::FashionMnist.read(&dir).unwrap();
    assert_eq!(
        (splits.train.labels, splits.train.shape),
        (vec![9, 0, 4], [2, 2, 1])
    );
    assert_eq!(splits.class_names.unwrap()[9], "Ankle boot");
    assert!(dir.join("t10k-labels-idx1-ubyte.gz").is_file());
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let (server, set) = cifar10_served();
    let half = set.files[0].bytes as usize / 2;
    for (resume, expected_range) in [
        (Behaviour::Serve, Some(format!("bytes={half}-"))),
        // A server that ignores ranges sends it all again: started over.
        (Behaviour::IgnoreRanges, Some(format!("bytes={half}-"))),
    ] {
        let root = tempfile::tempdir().unwrap();
        let part = root.path().join("cifar10/cifar-10-binary.tar.gz.part");
        server.set(Behaviour::DropAfter(half));
        let error = store(root.path()).ensure(&set).unwrap_err().to_string();
        assert!(error.contains("the connection broke after"), "{error}");
        assert!(error.contains("the next try continues from it"), "{error}");
        assert_eq!(std::fs::metadata(&part).unwrap().len(), half as u64);
        server.set(resume);
        let dir = store(root.path()).ensure(&set).unwrap();
        assert_eq!(Named::Cifar10.read(&dir).unwrap().train.len(), 15);
        assert!(!part.exists());
        assert_eq!(server.seen().last().unwrap().range, expected_range);
    }
}

#[test]
fn a_corrupted_byte_is_caught_and_nothing_is_kept() {
    let (server, set) = cifar10_served();
    let root = tempfile::tempdir().unwrap();
    server.set(Behaviour::Corrupt(100));
    let error = store(root.path()).ensure(&set).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, FetchError::Unavailable { .. }), "{message}");
    assert!(
        message.contains(&format!(
            "not {}: corrupted, or not the official file; deleted it",
            set.files[0].sha256
        )),
        "{message}"
    );
    // Nothing but the lock file: no archive, no part, no data, no mark.
    assert_eq!(listing(&root.path().join("cifar10")), [".lock"]);
    assert!(!store(root.path()).is_cached(&set));
    server.set(Behaviour::Serve);
    store(root.path()).ensure(&set).unwrap();
    assert!(store(root.path()).is_cached(&set));
}

/// Offline: the error names the URL, the folder and the files to put there
/// by hand; a file put there is checked the same way, and a wrong one is
/// deleted with a message.
#[test]
fn files_put_in_the_cache_by_hand_are_verified() {
    let archive = mirror::cifar10_archive();
    let set = test_set(&official("cifar10"), std::slice::from_ref(&archive), NO_SERVER);
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("cifar10");
    let message = store(root.path()).ensure(&set).unwrap_err().to_string();
    for needed in [
        format!("{NO_SERVER}/cifar10/cifar-10-binary.tar.gz: "),
        format!("put it in {} as cifar-10-binary.tar.gz", folder.display()),
        "CNNC_DATA_MIRROR=URL to a server that has URL/cifar10/cifar-10-binary.tar.gz".into(),
    ] {
        assert!(message.contains(&needed), "{needed} in\n{message}");
    }

    std::fs::write(
        folder.join("cifar-10-binary.tar.gz"),
        &archive[..archive.len() - 1],
    )
    .unwrap();
    let message = store(root.path()).ensure(&set).unwrap_err().to_string();
    assert!(message.contains("not the official file"), "{message}");
    assert!(message.contains("deleted it"), "{message}");
    assert!(!folder.join("cifar-10-binary.tar.gz").exists());

    std::fs::write(folder.join("cifar-10-binary.tar.gz"), &archive).unwrap();
    let dir = store(root.path()).ensure(&set).unwrap();
    assert_eq!(Named::Cifar10.read(&dir).unwrap().train.len(), 15);

    // A set of several files lists the others that are needed too.
    let mnist = test_set(
        &official("mnist"),
        &[vec![1], vec![2], vec![3], vec![4]],
        NO_SERVER,
    );
    let message = store(root.path()).ensure(&mnist).unwrap_err().to_string();
    assert!(
        message.contains(
            "as train-images-idx3-ubyte.gz (with the set's other files: train-labels-idx1-ubyte.gz, \
             t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)"
        ),
        "{message}"
    );
}

/// The binary, with the official checksums, against the mirror: every
/// failure is one clear message and exit 2, and every request goes to
/// `MIRROR/<set>/<official name>`.
#[test]
fn failed_downloads_are_clear_errors_with_exit_2() {
    let official_size = official("cifar10").files[0].bytes as usize;
    let big = Mirror::start(vec![(
        "/cifar10/cifar-10-binary.tar.gz".into(),
        vec![0; official_size], // never touched but for the bytes sent
    )]);
    let small = Mirror::start(paths(&official("cifar10"), &[mirror::cifar10_archive()]));
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("cifar10");
    let url = |server: &Mirror| format!("{}/cifar10/cifar-10-binary.tar.gz", server.url);
    let cases = [
        (
            &big,
            Behaviour::Status(404, "Not Found"),
            "the server answered 404 Not Found".to_string(),
        ),
        (
            &big,
            Behaviour::Status(500, "Internal Server Error"),
            "the server answered 500 Internal Server Error".into(),
        ),
        (
            &big,
            Behaviour::DropAfter(1000),
            "the connection broke after 1000 B of 162.2 MiB".into(),
        ),
        (
            &small,
            Behaviour::Serve,
            format!(
                "the server's file has {} bytes; the official one has 170,052,171",
                { cnnc::units::thousands(mirror::cifar10_archive().len() as u64) }
            ),
        ),
    ];
    for (server, behaviour, expected) in cases {
        server.set(behaviour);
        let out = cnnc(&["data", "get", "cifar10"], root.path(), &server.url);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("{}: {expected}", url(server))),
            "{expected} in\n{err}"
        );
        assert!(
            err.contains(&format!(
                "put it in {} as cifar-10-binary.tar.gz",
                folder.display()
            )),
            "{err}"
        );
    }
    // The broken download kept its part (then a server of another size
    // was asked for the rest, and said so).
    assert_eq!(
        std::fs::metadata(folder.join("cifar-10-binary.tar.gz.part"))
            .unwrap()
            .len(),
        1000
    );
    let seen: Vec<_> = big.seen().into_iter().chain(small.seen()).collect();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter().all(|s| s.path == "/cifar10/cifar-10-binary.tar.gz"),
        "{seen:?}"
    );
    assert_eq!(seen[3].range.as_deref(), Some("bytes=1000-"));
}

/// Training by name fails the same way, before it needs a GPU.
#[test]
fn training_on_a_set_that_cannot_be_downloaded_exits_2() {
    let server = Mirror::start(paths(&official("cifar10"), &[mirror::cifar10_archive()]));
    server.set(Behaviour::Status(500, "Internal Server Error"));
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("run");
    let out = cnnc(
        &[
            "train",
            "examples/cifar_model1.cnn",
            "--data",
            "cifar10",
            "--out",
            run.to_str().unwrap(),
        ],
        root.path(),
        &server.url,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the server answered 500"),
        "{}",
        text(&out.stderr)
    );
}

/// `HTTP_PROXY` is honoured: the download asks the proxy to connect to
/// the mirror's host (here a proxy that refuses).
#[test]
fn the_proxy_variables_are_honoured() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let asked = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(&stream), &mut line).unwrap();
        std::io::Write::write_all(
            &mut &stream,
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        line
    });
    let root = tempfile::tempdir().unwrap();
    let mut command = common::command(&["data", "get", "cifar10"]);
    command
        .env("CNNC_DATA_DIR", root.path())
        .env("CNNC_DATA_MIRROR", "http://data.example.invalid")
        .env("HTTP_PROXY", &proxy);
    for var in [
        "ALL_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "all_proxy",
        "https_proxy",
        "http_proxy",
        "no_proxy",
    ] {
        command.env_remove(var);
    }
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        asked.join().unwrap().trim(),
        "CONNECT data.example.invalid:80 HTTP/1.1"
    );
}

const CHILD: &str = "CNNC_TEST_DOWNLOAD_CHILD";

/// Two real processes download the same set at once: one downloads while
/// the other waits on the set's lock, then reads what the first verified.
/// (This test runs itself twice as the two processes, with `CHILD` set.)
#[test]
fn two_processes_downloading_at_once_share_one_download() {
    if let Ok(job) = std::env::var(CHILD) {
        let (root, url) = job.split_once('|').unwrap();
        let set = test_set(&official("cifar10"), &[mirror::cifar10_archive()], url);
        let dir = store(Path::new(root)).ensure(&set).unwrap();
        assert_eq!(Named::Cifar10.read(&dir).unwrap().train.len(), 15);
        return;
    }
    let (server, _) = cifar10_served();
    server.set(Behaviour::Slow(Duration::from_millis(500)));
    let root = tempfile::tempdir().unwrap();
    let child = || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "two_processes_downloading_at_once_share_one_download",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, format!("{}|{}", root.path().display(), server.url))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The second starts once the first is downloading (about 2 s at this
    // pace), so that they overlap however slowly processes start here.
    let first = child();
    let started = std::time::Instant::now();
    while server.seen().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first process never asked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let children = [first, child()];
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(
            out.status.success(),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let waited = outputs
        .iter()
        .filter(|o| text(&o.stderr).contains("waiting for another cnnc that is downloading cifar10"))
        .count();
    assert_eq!(waited, 1, "one process waits for the other");
    assert_eq!(server.seen().len(), 1, "one download: {:?}", server.seen());
    assert_eq!(listing(&root.path().join("cifar10")).len(), 10);
}

/// Done when: with a cache holding MNIST, `--data mnist` trains exactly as
/// `--data mnist:data/mnist`, without touching the network. The bundled
/// files are recompressed copies (the same decompressed bytes as the
/// official archives, other gzip bytes), so the cache is filled from them
/// through the download, under their own checksums; the binary is then
/// given a mirror where nothing listens.
#[test]
fn training_by_name_from_the_cache_equals_training_from_the_folder() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let mnist = official("mnist");
    let files: Vec<Vec<u8>> = mnist
        .files
        .iter()
        .map(|f| std::fs::read(bundled.join(&f.name)).unwrap())
        .collect();
    let server = Mirror::start(paths(&mnist, &files));
    let root = tempfile::tempdir().unwrap();
    let cached = store(root.path())
        .ensure(&test_set(&mnist, &files, &server.url))
        .unwrap();
    drop(server);

    let listed = ok(&cnnc(&["data", "list"], root.path(), NO_SERVER));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("mnist") && l.contains(" yes ")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("cifar10 ") && l.contains(" no ")),
        "{listed}"
    );
    let path = ok(&cnnc(&["data", "path", "mnist"], root.path(), NO_SERVER));
    assert_eq!(PathBuf::from(path.trim()), cached);
    let out = cnnc(&["data", "path", "cifar10"], root.path(), NO_SERVER);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`cnnc data get cifar10` downloads it"));

    let runs = tempfile::tempdir().unwrap();
    let train = |data: &str, run: &str| {
        let out = runs.path().join(run);
        ok(&cnnc(
            &[
                "train",
                "examples/mnist.cnn",
                "--data",
                data,
                "--epochs",
                "1",
                "--steps",
                "3",
                "--batch",
                "32",
                "--limit",
                "512",
                "--val-limit",
                "64",
                "--out",
                out.to_str().unwrap(),
            ],
            root.path(),
            NO_SERVER,
        ));
        (
            std::fs::read(out.join("model.safetensors")).unwrap(),
            std::fs::read_to_string(out.join("config.json")).unwrap(),
        )
    };
    let (by_name, config) = train("mnist", "by-name");
    let (by_folder, _) = train("mnist:data/mnist", "by-folder");
    assert!(by_name == by_folder, "the weights differ");
    assert!(config.contains("\"data\": \"mnist\""), "{config}");
}

/// The cache's folder: `CNNC_DATA_DIR`, else `$XDG_CACHE_HOME/cnnc/data`,
/// else `~/.cache/cnnc/data`; `data list` says which, and the mirror.
#[test]
fn the_cache_folder_comes_from_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let list = |vars: &[(&str, &str)]| {
        let mut command = common::command(&["data", "list"]);
        for var in ["CNNC_DATA_DIR", "XDG_CACHE_HOME", "CNNC_DATA_MIRROR"] {
            command.env_remove(var);
        }
        command.env("HOME", home.path()).envs(vars.iter().copied());
        ok(&command.output().unwrap())
    };
    let first_line = |text: String| text.lines().next().unwrap().to_string();
    assert_eq!(
        first_line(list(&[])),
        format!(
            "cache: {}/.cache/cnnc/data (CNNC_DATA_DIR)",
            home.path().display()
        )
    );
    assert_eq!(
        first_line(list(&[("XDG_CACHE_HOME", "/xdg")])),
        "cache: /xdg/cnnc/data (CNNC_DATA_DIR)"
    );
    let listed = list(&[("CNNC_DATA_DIR", "/data"), ("CNNC_DATA_MIRROR", "http://lab/")]);
    assert!(
        listed.starts_with("cache: /data (CNNC_DATA_DIR)\nmirror: http://lab (CNNC_DATA_MIRROR)\n"),
        "{listed}"
    );
}
