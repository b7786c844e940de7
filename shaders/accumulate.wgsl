// Adds one tensor into another: each input of an `add` past the second,
// or each gradient of a tensor past the second reader's.
//
// Generated constants: N WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> sum: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i < N {
        sum[i] += x[i];
    }
}
