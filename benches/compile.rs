//! Compile time of each example: parse, check, lower, emit and validate
//! every kernel with naga (`cargo bench --bench compile`).

use std::hint::black_box;

use cnnc::codegen::{LowerOptions, lower};
use cnnc::model::CheckOptions;
use cnnc::source::Source;
use criterion::{Criterion, criterion_group, criterion_main};

fn compile(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let source = Source::read(&path).unwrap();
        let name = source.stem();
        c.bench_function(&format!("compile {name}"), |b| {
            b.iter(|| {
                let model = cnnc::load(black_box(&source), &CheckOptions::default()).unwrap();
                let plan = lower(
                    &model,
                    &LowerOptions {
                        batch: 128,
                        ..LowerOptions::default()
                    },
                )
                .unwrap();
                black_box(plan.kernels.len())
            })
        });
    }
}

criterion_group!(benches, compile);
criterion_main!(benches);
