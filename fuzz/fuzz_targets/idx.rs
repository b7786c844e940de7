//! Arbitrary bytes as an IDX image or label file, raw or gzip: an error or
//! a dataset, never a panic or an allocation the file does not justify.
#![no_main]

use std::io::Read;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-idx-ubyte");
    for ndims in [&[3u8, 4][..], &[1][..]] {
        let mut reader: Box<dyn Read> = if data.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(data))
        } else {
            Box::new(data)
        };
        if let Ok(idx) = cnnc::data::idx::read_from(&mut *reader, path, ndims) {
            assert_eq!(idx.data.len(), idx.dims.iter().product::<usize>());
        }
    }
});
