// Global max pooling backward: one invocation per input value, which gets
// its (sample, channel)'s gradient if it was the winner, else 0, times the
// derivative of the activation that produced it.
//
// Generated constants: B HW C WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i < B * HW * C {
        let o = (i / (HW * C)) * C + i % C;
        dx[i] = select(0.0, dy[o], argmax[o] == i) * input_derivative(x[i]);
    }
}
