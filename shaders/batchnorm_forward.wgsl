// Batchnorm, second half of the forward pass: y = gamma (x - mean) / std + beta,
// with the statistics `batchnorm_statistics` chose (the batch's or the running ones).
//
// Generated constants: N C GAMMA_OFF BETA_OFF WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    let c = i % C;
    y[i] = params[GAMMA_OFF + c] * (x[i] - stats[c]) * stats[C + c] + params[BETA_OFF + c];
}
