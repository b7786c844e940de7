// Softmax and categorical cross-entropy, fused: one invocation per sample.
// Writes the class probabilities, the gradient of the mean loss with
// respect to the scores, (softmax - one_hot) / active, times the
// derivative of the activation that made the scores (`input_derivative`,
// 1 for linear and a final softmax), and the sample's
// loss and prediction for `metrics.wgsl` to add up. Padding samples (n >=
// step.samples) get a zero gradient and count for nothing.
//
// Generated constants: B K WG

struct SampleStat {
    loss: f32,
    predicted: u32,
    correct: u32,
    counted: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<SampleStat>;
@group(0) @binding(5) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = invocation(gid, groups);
    if n >= B {
        return;
    }
    let base = n * K;
    var top = logits[base];
    var predicted = 0u;
    for (var k = 1u; k < K; k++) {
        if logits[base + k] > top {
            top = logits[base + k];
            predicted = k;
        }
    }
    var sum = 0.0;
    for (var k = 0u; k < K; k++) {
        sum += exp(logits[base + k] - top);
    }
    let label = labels[n];
    let counted = n < step.samples && label < K;
    let scale = 1.0 / f32(max(step.samples, 1u));
    for (var k = 0u; k < K; k++) {
        let p = exp(logits[base + k] - top) / sum;
        probs[base + k] = p;
        let target_p = select(0.0, 1.0, k == label);
        dz[base + k] = select(0.0, (p - target_p) * scale * input_derivative(logits[base + k]), counted);
    }
    var stat: SampleStat;
    stat.predicted = predicted;
    if counted {
        // -log softmax(z)[label] = log(sum) + top - z[label]
        stat.loss = log(sum) + top - logits[base + label];
        stat.correct = select(0u, 1u, predicted == label);
        stat.counted = 1u;
    }
    stats[n] = stat;
}
