//! Compile time of each example: parse, check, plan, emit and validate
//! every kernel with naga (`cargo bench --bench compile`).

use std::hint::black_box;

use cnnc::codegen::LowerOptions;
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
                let plan = cnnc::codegen::plan(
                    &model,
                    &LowerOptions {
                        batch: 128,
                        ..LowerOptions::default()
                    },
                )
                .unwrap();
                black_box(cnnc::codegen::emit(&plan).unwrap().len())
            })
        });
    }
}

criterion_group!(benches, compile);
criterion_main!(benches);
