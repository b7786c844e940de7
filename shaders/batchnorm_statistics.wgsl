// Batchnorm, first half of the forward pass: per channel, the statistics to
// normalise with. In training: the batch's mean and (biased, as Keras's)
// variance over every real sample and position, and the running statistics
// moved toward them. In evaluation: the running statistics.
// One workgroup per channel; `stats` holds the means, then 1 / sqrt(var + eps).
//
// Generated constants: B S (positions per sample) C MOMENTUM EPSILON MEAN_OFF VAR_OFF WG
// Generated function:  workgroup_sum (shaders/workgroup_sum.wgsl)

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    // More than 65535 channels spill into y.
    let c = group.x + group.y * groups.x;
    if c >= C {
        return;
    }
    if step.training == 0u {
        if local == 0u {
            stats[c] = params[MEAN_OFF + c];
            stats[C + c] = inverseSqrt(params[VAR_OFF + c] + EPSILON);
        }
        return;
    }
    // Padding samples (past step.samples) are zeros: they must not count.
    let count = max(min(step.samples, B) * S, 1u);
    var sum = 0.0;
    for (var e = local; e < count; e += WG) {
        sum += x[e * C + c];
    }
    let mean = workgroup_sum(local, sum) / f32(count);
    var squares = 0.0;
    for (var e = local; e < count; e += WG) {
        let d = x[e * C + c] - mean;
        squares += d * d;
    }
    let variance = workgroup_sum(local, squares) / f32(count);
    if local == 0u {
        stats[c] = mean;
        stats[C + c] = inverseSqrt(variance + EPSILON);
        params[MEAN_OFF + c] = MOMENTUM * params[MEAN_OFF + c] + (1.0 - MOMENTUM) * mean;
        params[VAR_OFF + c] = MOMENTUM * params[VAR_OFF + c] + (1.0 - MOMENTUM) * variance;
    }
}
