//! The standard datasets cnnc knows by name: their official files, where
//! they are published, their sizes and SHA-256 as published, and how each
//! is laid out once unpacked.
//!
//! A [`Catalogue`] is a value, not a global: the commands use
//! [`Catalogue::official`], whose checksums are compiled in; tests build
//! their own (small archives, their own checksums) and hand it to the same
//! code, so nothing at run time can swap the official checksums.

/// Every set cnnc can download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    pub sets: Vec<SetSpec>,
}

/// One downloadable set: its files and where its readable files end up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSpec {
    /// The name on the command line, and the name of its folder in the cache.
    pub name: String,
    /// What it holds, for `cnnc data list`.
    pub description: String,
    pub files: Vec<Archive>,
    /// Inside the set's folder, the folder that the readers read (the
    /// archive's own top folder, or empty for the set's folder itself).
    pub data_dir: String,
}

/// One official file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Its official name, kept in the cache and on a mirror.
    pub name: String,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// Where it is published, tried in order.
    pub urls: Vec<String>,
    pub unpack: Unpack,
}

/// What becomes of a verified file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// Read as it is (the IDX readers take `.gz` files).
    Keep,
    /// A `.tar.gz` whose members are extracted into the set's folder; the
    /// archive is deleted once they are in place.
    TarGz,
}

impl Catalogue {
    pub fn set(&self, name: &str) -> Option<&SetSpec> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// The official sets, with the published checksums.
    ///
    /// SHA-256 and sizes are tensorflow-datasets' (github.com/tensorflow/datasets,
    /// `tensorflow_datasets/url_checksums/<set>.txt`: `mnist.txt` at commit
    /// 31f1255e57e5, `fashion_mnist.txt`, `cifar10.txt` and `cifar100.txt` at
    /// 333639b37af6). The CIFAR archives are the binary versions that
    /// tensorflow-datasets downloads, the formats `cifar10:DIR` and
    /// `cifar100:DIR` read.
    pub fn official() -> Catalogue {
        Catalogue {
            sets: vec![mnist(), fashion_mnist(), cifar10(), cifar100()],
        }
    }
}

fn mnist() -> SetSpec {
    idx_set(
        "mnist",
        "handwritten digits: 60,000 + 10,000 images, 28x28x1, 10 classes",
        // torchvision's maintained mirror (pytorch/vision, torchvision/datasets/
        // mnist.py, `MNIST.mirrors`; the original host refuses scripts), then the
        // one tensorflow-datasets uses. Both serve the original files: torchvision
        // checks them against the original MD5s (f68b3c2d… for train-images),
        // tensorflow-datasets against the SHA-256s here, of the original sizes.
        &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        [
            (
                9_912_422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
            (
                28_881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
            (
                1_648_877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
            (
                4_542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        ],
    )
}

fn fashion_mnist() -> SetSpec {
    idx_set(
        "fashion-mnist",
        "Zalando's clothing images: 60,000 + 10,000 images, 28x28x1, 10 classes",
        // Zalando's own host, which torchvision and tensorflow-datasets both use
        // (plain HTTP only; the checksum is what makes it safe).
        &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        [
            (
                26_421_880,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            ),
            (
                29_515,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            ),
            (
                4_422_102,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            ),
            (
                5_148,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            ),
        ],
    )
}

fn cifar10() -> SetSpec {
    tar_set(
        "cifar10",
        "small colour photos: 50,000 + 10,000 images, 32x32x3, 10 classes",
        "cifar-10-binary.tar.gz",
        170_052_171,
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
        "cifar-10-batches-bin",
    )
}

fn cifar100() -> SetSpec {
    tar_set(
        "cifar100",
        "small colour photos: 50,000 + 10,000 images, 32x32x3, 100 classes \
         (cifar100-coarse: the same images under their 20 superclasses)",
        "cifar-100-binary.tar.gz",
        168_513_733,
        "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
        "cifar-100-binary",
    )
}

/// The four IDX files every MNIST-style set has, in this order, as
/// (bytes, SHA-256).
const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

fn idx_set(name: &str, description: &str, hosts: &[&str], sums: [(u64, &str); 4]) -> SetSpec {
    SetSpec {
        name: name.into(),
        description: description.into(),
        files: IDX_FILES
            .iter()
            .zip(sums)
            .map(|(file, (bytes, sha256))| Archive {
                name: (*file).into(),
                bytes,
                sha256: sha256.into(),
                urls: hosts.iter().map(|h| format!("{h}{file}")).collect(),
                unpack: Unpack::Keep,
            })
            .collect(),
        data_dir: String::new(),
    }
}

/// A set published as one `.tar.gz` on Alex Krizhevsky's page
/// (www.cs.toronto.edu/~kriz/cifar.html).
fn tar_set(name: &str, description: &str, file: &str, bytes: u64, sha256: &str, top: &str) -> SetSpec {
    SetSpec {
        name: name.into(),
        description: description.into(),
        files: vec![Archive {
            name: file.into(),
            bytes,
            sha256: sha256.into(),
            urls: vec![format!("https://www.cs.toronto.edu/~kriz/{file}")],
            unpack: Unpack::TarGz,
        }],
        data_dir: top.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_entries_are_well_formed() {
        let catalogue = Catalogue::official();
        let names: Vec<&str> = catalogue.sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["mnist", "fashion-mnist", "cifar10", "cifar100"]);
        for set in &catalogue.sets {
            assert!(!set.files.is_empty(), "{}", set.name);
            for file in &set.files {
                assert_eq!(file.sha256.len(), 64, "{}", file.name);
                assert!(
                    file.sha256
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
                assert!(file.bytes > 1000);
                assert!(!file.urls.is_empty());
                for url in &file.urls {
                    assert!(url.ends_with(&format!("/{}", file.name)), "{url}");
                }
            }
        }
    }
}
