// The gradient of one input of a `concat`: its channel slice OFF..OFF+C of
// the output's gradient, times the derivative of the activation that
// produced the input (see conv_backward_input.wgsl).
//
// Generated constants: ROWS C CO OFF WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i < ROWS * C {
        dx[i] = dy[(i / C) * CO + OFF + i % C] * input_derivative(x[i]);
    }
}
