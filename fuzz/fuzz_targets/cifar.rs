//! Arbitrary bytes as a CIFAR-10 batch file, raw or gzip.
#![no_main]

use std::io::Read;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader: Box<dyn Read> = if data.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(data))
    } else {
        Box::new(data)
    };
    let mut set = cnnc::data::cifar::empty("fuzz".into());
    if cnnc::data::cifar::read_batch_from(&mut *reader, Path::new("fuzz.bin"), &mut set).is_ok() {
        assert_eq!(set.images.len(), set.labels.len() * 32 * 32 * 3);
        assert!(set.labels.iter().all(|&l| l < 10));
    }
});
