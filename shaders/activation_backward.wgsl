// Backward of an activation layer. Its own derivative was applied by the
// kernel that computed `dy` (see conv_backward_input.wgsl); what is left is
// the derivative of the activation that produced its input.
//
// Generated constants: N WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i < N {
        dx[i] = dy[i] * input_derivative(x[i]);
    }
}
