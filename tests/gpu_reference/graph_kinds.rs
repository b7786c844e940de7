//! `concat`, `globalpool` and grouped convolutions on the GPU against the
//! reference, one SGD and one Adam step each, on models built by hand
//! (`tests/common/graphs.rs`) until the language writes these kinds.

use super::*;
use cnnc::model::PoolKind;
use common::graphs;

fn both(what: &str, m: &Model) {
    compare(what, m, OptimizerKind::Sgd, 3, 3);
    compare(what, m, OptimizerKind::Adam, 3, 2);
}

/// Three inputs (one read three times in all, so its gradient is a sum of
/// three), images and vectors, before a conv, a dense and a flatten.
#[test]
fn concat_of_images_and_vectors() {
    for (chain, at) in [
        (
            "input 6x6x2; conv 4 3x3 same relu; conv 3 3x3 same tanh; conv 5 1x1 sigmoid; conv 4 1x1 same; dense 3",
            0,
        ),
        (
            "input 5x5x2; conv 3 3x3 relu; dense 4 tanh; dense 5 sigmoid; dense 6 leaky_relu; dense 3",
            2,
        ),
        (
            "input 4x4x2; conv 2 3x3 same; conv 3 1x1 relu; conv 2 1x1 tanh; flatten; dense 3",
            0,
        ),
    ] {
        both(chain, &graphs::concat(&model(chain), at));
    }
}

#[test]
fn global_avg_and_max_pools() {
    for act in ["relu", "sigmoid", "linear"] {
        let chain = model(&format!("input 5x4x3; conv 4 3x3 same {act}; flatten; dense 3"));
        for kind in [PoolKind::Avg, PoolKind::Max] {
            both(
                &format!("globalpool {kind:?} {act}"),
                &graphs::global_pool(&chain, kind),
            );
        }
    }
}

/// Groups of several channels (tiles of 4, 2 and 1 columns), depthwise
/// convolutions (one channel per group), strides, padding, a grouped first
/// layer (no input gradient), and a batch large enough for 8-row tiles.
#[test]
fn grouped_and_depthwise_convolutions() {
    let chain = model(
        "input 6x5x4; conv 8 3x3 same relu; conv 8 3x3 same tanh; conv 4 3x3 stride 2 same sigmoid; conv 4 2x2; dense 3",
    );
    for (what, groups) in [
        ("groups 2 then 4", [(0, 2), (2, 4)]),
        ("depthwise", [(1, 8), (3, 4)]),
        ("groups 4 then 2", [(1, 2), (2, 2)]),
    ] {
        let m = groups
            .iter()
            .fold(chain.clone(), |m, &(i, g)| graphs::grouped(&m, i, g));
        both(what, &m);
        compare(what, &m, OptimizerKind::Adam, 16, 16);
    }
}
