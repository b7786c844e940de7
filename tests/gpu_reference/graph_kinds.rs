//! `concat`, `globalpool` and grouped convolutions on the GPU against the
//! reference, one SGD and one Adam step each, on models built by hand
//! (`tests/common/graphs.rs`) until the language writes these kinds.

use super::*;
use common::graphs;

fn both(what: &str, m: &Model) {
    compare(what, m, OptimizerKind::Sgd, 3, 3);
    compare(what, m, OptimizerKind::Adam, 3, 2);
}

#[test]
fn concat_of_images_and_vectors() {
    for (what, m) in graphs::concat_cases() {
        both(what, &m);
    }
}

#[test]
fn global_avg_and_max_pools() {
    for (what, m) in graphs::global_pool_cases() {
        both(&what, &m);
    }
}

/// The grouped cases, and a batch large enough for 8-row tiles.
#[test]
fn grouped_and_depthwise_convolutions() {
    for (what, m) in graphs::grouped_cases() {
        both(what, &m);
        compare(what, &m, OptimizerKind::Adam, 16, 16);
    }
}
