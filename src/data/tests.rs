use std::io::Write;
use std::path::Path;

use super::*;

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A tiny MNIST-style folder: `n` 2x3 images with labels 0..n.
fn mnist_dir(n: u32, compress: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..n * 6).map(|i| i as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| i as u8).collect();
    let files = [
        ("train-images-idx3-ubyte", idx(&[n, 2, 3], &pixels)),
        ("train-labels-idx1-ubyte", idx(&[n], &labels)),
    ];
    for (name, bytes) in files {
        if compress {
            std::fs::write(dir.path().join(format!("{name}.gz")), gz(&bytes)).unwrap();
        } else {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
    }
    dir
}

fn error(spec: DataSpec) -> String {
    load(&spec, None).unwrap_err().to_string()
}

#[test]
fn idx_raw_and_gzip() {
    for compress in [false, true] {
        let dir = mnist_dir(4, compress);
        let splits = load(&DataSpec::Mnist(dir.path().into()), None).unwrap();
        assert_eq!(splits.train.shape, [2, 3, 1]);
        assert_eq!(splits.train.labels, [0, 1, 2, 3]);
        assert_eq!(splits.train.image(1), &[6, 7, 8, 9, 10, 11]);
        assert!(splits.test.is_none());
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn idx_errors_name_the_file_and_the_problem() {
    let dir = mnist_dir(4, false);
    let spec = DataSpec::Mnist(dir.path().into());
    let images = dir.path().join("train-images-idx3-ubyte");

    write(dir.path(), "train-images-idx3-ubyte", &idx(&[4, 2, 3], &[0; 20]));
    let e = error(spec.clone());
    assert!(e.starts_with(&images.display().to_string()), "{e}");
    assert!(e.contains("truncated: expected 24 bytes"), "{e}");

    write(
        dir.path(),
        "train-images-idx3-ubyte",
        &[0x1f, 0x8b, 8, 3, 0, 0, 0, 4],
    );
    assert!(error(spec.clone()).contains("bad magic number 0x1f8b0803"));

    write(dir.path(), "train-images-idx3-ubyte", &[]);
    assert!(error(spec.clone()).contains("too short to be an IDX file"));

    write(
        dir.path(),
        "train-images-idx3-ubyte",
        &idx(&[0xFFFF_FFFF, 0xFFFF, 0xFFFF], &[]),
    );
    assert!(
        error(spec.clone()).contains("more than cnnc reads"),
        "oversized header"
    );

    write(dir.path(), "train-images-idx3-ubyte", &idx(&[4, 2, 3], &[0; 25]));
    assert!(error(spec.clone()).contains("more bytes than its header describes"));

    write(dir.path(), "train-images-idx3-ubyte", &idx(&[5, 2, 3], &[0; 30]));
    let e = error(spec.clone());
    assert!(e.contains("train-labels-idx1-ubyte: has 4 labels, but"), "{e}");
    assert!(e.contains("has 5 images"), "{e}");

    std::fs::remove_file(dir.path().join("train-labels-idx1-ubyte")).unwrap();
    assert!(error(spec.clone()).contains("has no labels file beside it"));

    write(dir.path(), "train-images-idx3-ubyte.gz", b"not gzip at all");
    std::fs::remove_file(&images).unwrap();
    write(dir.path(), "train-labels-idx1-ubyte", &idx(&[4], &[0; 4]));
    let e = error(spec.clone());
    assert!(e.contains("train-images-idx3-ubyte.gz: cannot be read"), "{e}");

    assert!(error(DataSpec::Mnist(dir.path().join("nope"))).contains("not a directory"));
}

fn cifar_record(label: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072).map(|i| (i as u8).wrapping_add(seed)));
    r
}

#[test]
fn cifar_planes_become_channels_last() {
    let dir = tempfile::tempdir().unwrap();
    let mut batch = cifar_record(3, 0);
    batch.extend(cifar_record(9, 1));
    write(dir.path(), "data_batch_2.bin", &batch);
    std::fs::write(dir.path().join("test_batch.bin.gz"), gz(&cifar_record(1, 5))).unwrap();
    let splits = load(&DataSpec::Cifar10(dir.path().into()), None).unwrap();
    assert_eq!(splits.train.labels, [3, 9]);
    assert_eq!(splits.train.shape, [32, 32, 3]);
    // Pixel 1 of record 0: red plane byte 1, green byte 1025, blue byte 2049.
    let img = splits.train.image(0);
    assert_eq!(&img[3..6], &[1, (1025 % 256) as u8, (2049 % 256) as u8]);
    assert_eq!(splits.test.unwrap().labels, [1]);
}

#[test]
fn cifar_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DataSpec::Cifar10(dir.path().into());
    assert!(error(spec.clone()).contains("no data_batch_1.bin"));
    write(dir.path(), "data_batch_1.bin", &cifar_record(3, 0)[..3000]);
    assert!(
        error(spec.clone())
            .contains("data_batch_1.bin: is 3000 bytes, not a whole number of 3073-byte records")
    );
    write(dir.path(), "data_batch_1.bin", &cifar_record(12, 0));
    assert!(error(spec.clone()).contains("record 0 has label 12"));
    write(dir.path(), "data_batch_1.bin", &[]);
    assert!(error(spec).contains("data_batch_1.bin: is empty"));
}

/// A CIFAR-100 record: coarse label, fine label, then the planes.
fn cifar100_record(coarse: u8, fine: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![coarse, fine];
    r.extend((0..3072).map(|i| (i as u8).wrapping_add(seed)));
    r
}

#[test]
fn cifar100_fine_and_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut train = cifar100_record(4, 30, 0);
    train.extend(cifar100_record(19, 99, 1));
    write(dir.path(), "train.bin", &train);
    std::fs::write(dir.path().join("test.bin.gz"), gz(&cifar100_record(0, 7, 2))).unwrap();
    let fine = |labels| DataSpec::Cifar100 {
        dir: dir.path().into(),
        labels,
    };
    let splits = load(&fine(cifar::Labels::Fine), None).unwrap();
    assert_eq!(splits.train.labels, [30, 99]);
    assert_eq!(splits.test.as_ref().unwrap().labels, [7]);
    // Pixel 1 of record 1 (seed 1): red byte 2, green 1026, blue 2050.
    assert_eq!(
        &splits.train.image(1)[3..6],
        &[2, (1026 % 256) as u8, (2050 % 256) as u8]
    );
    assert_eq!(splits.class_names, None);
    let coarse = load(&fine(cifar::Labels::Coarse), None).unwrap();
    assert_eq!(coarse.train.labels, [4, 19]);
    assert_eq!(coarse.train.images, splits.train.images);

    let names: String = (0..20).map(|i| format!("super{i}\n")).collect();
    write(
        dir.path(),
        "coarse_label_names.txt",
        format!("{names}\n").as_bytes(),
    );
    let named = load(&fine(cifar::Labels::Coarse), None).unwrap();
    assert_eq!(named.class_names.unwrap()[19], "super19");
    write(dir.path(), "fine_label_names.txt", b"apple\nbee\n");
    assert!(
        error(fine(cifar::Labels::Fine)).contains("fine_label_names.txt: has 2 class names; expected 100")
    );
}

#[test]
fn cifar100_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |labels| DataSpec::Cifar100 {
        dir: dir.path().into(),
        labels,
    };
    assert!(error(spec(cifar::Labels::Fine)).contains("no train.bin"));
    // A CIFAR-10 record is one byte short of a CIFAR-100 one.
    write(dir.path(), "train.bin", &cifar_record(3, 0));
    let e = error(spec(cifar::Labels::Fine));
    assert!(
        e.contains("is 3073 bytes, not a whole number of 3074-byte records (truncated, or not CIFAR-100)"),
        "{e}"
    );
    write(dir.path(), "train.bin", &cifar100_record(20, 50, 0));
    let e = error(spec(cifar::Labels::Coarse));
    assert!(
        e.contains("record 0 has label 20; CIFAR-100's coarse labels are 0 to 19"),
        "{e}"
    );
    write(dir.path(), "train.bin", &cifar100_record(2, 100, 0));
    let e = error(spec(cifar::Labels::Fine));
    assert!(
        e.contains("record 0 has label 100; CIFAR-100's fine labels are 0 to 99"),
        "{e}"
    );
}

fn png(path: &Path, w: u32, h: u32, value: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(w, h, image::Luma([value]))
        .save(path)
        .unwrap();
}

#[test]
fn image_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    png(&root.join("train/cat/a.png"), 4, 3, 10);
    png(&root.join("train/cat/b.png"), 4, 3, 20);
    png(&root.join("train/dog/c.png"), 4, 3, 30);
    png(&root.join("test/dog/d.png"), 4, 3, 40);
    std::fs::write(root.join("train/dog/notes.txt"), "ignored").unwrap();
    let splits = load(&DataSpec::Folder(root.into()), None).unwrap();
    assert_eq!(splits.class_names.as_deref().unwrap(), ["cat", "dog"]);
    assert_eq!(splits.train.shape, [3, 4, 1]);
    assert_eq!(splits.train.labels, [0, 0, 1]);
    assert_eq!(splits.train.image(2)[0], 30);
    assert_eq!(splits.test.as_ref().unwrap().labels, [1]);

    let rgb = load(&DataSpec::Folder(root.into()), Some(3)).unwrap();
    assert_eq!(rgb.train.shape, [3, 4, 3]);

    png(&root.join("train/dog/big.png"), 5, 3, 0);
    let e = error(DataSpec::Folder(root.into()));
    assert!(
        e.contains("big.png: is 3x5, but the images before it are 3x4"),
        "{e}"
    );
    std::fs::remove_file(root.join("train/dog/big.png")).unwrap();

    std::fs::write(root.join("train/dog/broken.png"), "not a png").unwrap();
    let e = error(DataSpec::Folder(root.into()));
    assert!(
        e.contains("broken.png: is not a readable PNG or JPEG image"),
        "{e}"
    );
    std::fs::remove_file(root.join("train/dog/broken.png")).unwrap();

    png(&root.join("test/bird/e.png"), 4, 3, 0);
    assert!(
        error(DataSpec::Folder(root.into())).contains("is a class that the training folder does not have")
    );

    let empty = tempfile::tempdir().unwrap();
    assert!(error(DataSpec::Folder(empty.path().into())).contains("has no class sub-folders"));
}

fn selection(limit: Option<usize>, val_split: Option<f64>, val_limit: Option<usize>, seed: u64) -> Selection {
    Selection {
        limit,
        val_split,
        val_limit,
        seed,
    }
}

#[test]
fn limit_and_validation_split_draw_a_seeded_random_subset() {
    let dir = mnist_dir(100, false);
    let splits = load(&DataSpec::Mnist(dir.path().into()), None).unwrap();
    let s = select(&splits, &selection(Some(80), Some(0.25), None, 1));
    let val = s.validation.as_ref().unwrap();
    assert_eq!((s.train.len(), val.len()), (60, 20));
    // Labels are the sample indices here: no overlap, file order kept, not a prefix.
    let mut all: Vec<u32> = s.train.labels.iter().chain(&val.labels).copied().collect();
    assert!(s.train.labels.windows(2).all(|w| w[0] < w[1]));
    assert_ne!(s.train.labels, (0..60).collect::<Vec<u32>>());
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 80);
    let k = val.labels[0] as usize;
    assert_eq!(val.image(0), splits.train.image(k));
    assert!(val.origin.ends_with("(validation split)"));
    // The same seed, the same samples; another seed, others.
    let again = select(&splits, &selection(Some(80), Some(0.25), None, 1));
    assert_eq!((&again.train.labels, &again.digest), (&s.train.labels, &s.digest));
    let other = select(&splits, &selection(Some(80), Some(0.25), None, 2));
    assert_ne!(other.train.labels, s.train.labels);
    assert_ne!(other.digest, s.digest);
    // Without a limit or split, everything in file order.
    let all = select(&splits, &Selection::default());
    assert_eq!(all.train, splits.train);
    assert!(all.validation.is_none());
    assert_eq!(
        select(&splits, &selection(Some(10), Some(0.0), None, 1)).validation,
        None
    );
}

/// Image folders are read class by class: a split of the file order put
/// all of one class on one side.
#[test]
fn a_two_class_folder_splits_both_classes_to_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    for (class, value) in [("cat", 10), ("dog", 200)] {
        for i in 0..6 {
            png(&dir.path().join(format!("{class}/{i}.png")), 3, 3, value);
        }
    }
    let splits = load(&DataSpec::Folder(dir.path().into()), None).unwrap();
    assert_eq!(splits.train.labels, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    for seed in 1..=5 {
        let s = select(&splits, &selection(None, Some(0.5), None, seed));
        let val = s.validation.unwrap();
        assert_eq!((s.train.len(), val.len()), (6, 6));
        for labels in [&s.train.labels, &val.labels] {
            assert!(
                labels.contains(&0) && labels.contains(&1),
                "seed {seed}: {labels:?}"
            );
        }
    }
    // `--limit` too: a prefix of the file order would be all cats.
    let limited = select(&splits, &selection(Some(4), None, None, 1));
    assert!(limited.train.labels.contains(&1), "{:?}", limited.train.labels);
}

#[test]
fn val_limit_draws_from_the_test_split() {
    let dir = mnist_dir(20, false);
    let mut splits = load(&DataSpec::Mnist(dir.path().into()), None).unwrap();
    splits.test = Some(splits.train.clone());
    let s = select(&splits, &selection(Some(5), None, Some(7), 3));
    let val = s.validation.unwrap();
    assert_eq!((s.train.len(), val.len()), (5, 7));
    assert_ne!(val.labels, (0..7).collect::<Vec<u32>>());
    assert_eq!(val.origin, splits.train.origin);
}

#[test]
fn data_spec_parses() {
    assert_eq!(
        "mnist:data/mnist".parse::<DataSpec>().unwrap(),
        DataSpec::Mnist("data/mnist".into())
    );
    assert!(
        "imagenet:x"
            .parse::<DataSpec>()
            .unwrap_err()
            .contains("unknown dataset kind")
    );
    assert!("data".parse::<DataSpec>().unwrap_err().contains("KIND:DIR"));
    assert_eq!(
        "cifar100-coarse:x".parse::<DataSpec>().unwrap(),
        DataSpec::Cifar100 {
            dir: "x".into(),
            labels: cifar::Labels::Coarse
        }
    );
    // A name without a folder is a standard set; it prints as it parses, so
    // that config.json and a sweep's jobs.txt give the same data back.
    for text in [
        "mnist",
        "fashion-mnist",
        "cifar10",
        "cifar100",
        "cifar100-coarse",
        "cifar100:d",
        "cifar100-coarse:d",
        "mnist:d",
        "cifar10:d",
        "folder:d",
    ] {
        let spec: DataSpec = text.parse().unwrap();
        assert_eq!(spec.to_string(), text);
        let absolute = match text.split_once(':') {
            Some((kind, dir)) => format!("{kind}:{}", std::path::absolute(dir).unwrap().display()),
            None => text.to_string(),
        };
        assert_eq!(spec.absolute().unwrap().to_string(), absolute);
    }
    assert_eq!(
        "cifar10".parse::<DataSpec>().unwrap(),
        DataSpec::Named(named::Named::Cifar10)
    );
    let e = "cifar".parse::<DataSpec>().unwrap_err();
    assert!(
        e.contains("unknown dataset `cifar`: give a name (mnist, fashion-mnist, cifar10"),
        "{e}"
    );
}

#[test]
fn the_real_mnist_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let splits = load(&DataSpec::Mnist(dir), None).unwrap();
    assert_eq!((splits.train.len(), splits.train.shape), (60_000, [28, 28, 1]));
    assert_eq!(splits.test.as_ref().unwrap().len(), 10_000);
    assert_eq!(splits.train.label_range(), 10);
    // The first training digit is a 5, the first test digit a 7.
    assert_eq!((splits.train.labels[0], splits.test.unwrap().labels[0]), (5, 7));
}
