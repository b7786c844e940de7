// An activation as a layer of its own: y = activate(x), elementwise.
//
// Generated constants: N WG
// Generated function:  activate(x)

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i < N {
        y[i] = activate(x[i]);
    }
}
