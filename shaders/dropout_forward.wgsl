// Inverted dropout: in training, each value is kept with probability
// 1 - rate and scaled by 1 / (1 - rate); in evaluation it passes through.
// The mask is a hash of the step's seed, the layer and the index, so the
// backward pass recomputes it instead of storing it.
//
// Generated constants: N THRESHOLD SCALE SALT WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    if step.training == 0u {
        y[i] = x[i];
        return;
    }
    let keep = dropout_keep(dropout_key(step.seed, SALT), i, THRESHOLD);
    y[i] = select(0.0, x[i] * SCALE, keep);
}
