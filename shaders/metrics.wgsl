// Adds this batch's losses and hits to the running totals, in sample order,
// on one invocation: no float atomics, so the sums are the same every run.
// The runtime reads them back once per progress update, not per step.
// Layers with `l2` add their penalty (l2_penalty.wgsl) to every counted
// sample's loss, as Keras adds it to the loss it reports.
//
// Generated constants: B P (penalties) WG

struct SampleStat {
    loss: f32,
    predicted: u32,
    correct: u32,
    counted: u32,
}

struct Totals {
    loss_sum: f32,
    correct: u32,
    counted: u32,
    batches: u32,
}

@group(0) @binding(0) var<storage, read> stats: array<SampleStat>;
@group(0) @binding(1) var<storage, read_write> totals: Totals;
@group(0) @binding(2) var<storage, read> penalty: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x != 0u {
        return;
    }
    var loss = 0.0;
    var correct = 0u;
    var counted = 0u;
    for (var n = 0u; n < B; n++) {
        loss += stats[n].loss;
        correct += stats[n].correct;
        counted += stats[n].counted;
    }
    var regularisation = 0.0;
    for (var p = 0u; p < P; p++) {
        regularisation += penalty[p];
    }
    totals.loss_sum += loss + regularisation * f32(counted);
    totals.correct += correct;
    totals.counted += counted;
    totals.batches += 1u;
}
