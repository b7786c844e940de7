// The elementwise sum of two tensors: an `add` layer's forward pass, or
// the gradient of a tensor that two layers read.
//
// Generated constants: N WG

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i < N {
        out[i] = a[i] + b[i];
    }
}
