// Dropout backward: the gradient flows through the kept values, scaled as
// they were, and through the producer's activation.
//
// Generated constants: N THRESHOLD SCALE SALT WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    var scale = 1.0;
    if step.training != 0u {
        let keep = dropout_keep(dropout_key(step.seed, SALT), i, THRESHOLD);
        scale = select(0.0, SCALE, keep);
    }
    dx[i] = dy[i] * scale * input_derivative(x[i]);
}
