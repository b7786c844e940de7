// Gradient of a bias: db[c] = sum over rows of dz[row, c], where a row is
// an output pixel of the batch (a sample, for a dense layer). One
// invocation per channel sums its column in order: deterministic.
//
// Generated constants: ROWS C BIAS_OFF WG

@group(0) @binding(0) var<storage, read> dz: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let c = invocation(gid, groups);
    if c >= C {
        return;
    }
    var sum = 0.0;
    for (var row = 0u; row < ROWS; row++) {
        sum += dz[row * C + c];
    }
    grads[BIAS_OFF + c] = sum;
}
