// One input of a `concat`, copied into its channel slice of the output:
// every row (a pixel of a sample, or a sample of vectors) of the input's C
// channels lands at channels OFF..OFF+C of the output's CO. One kernel
// per input, one invocation per input element.
//
// Generated constants: ROWS C CO OFF WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i < ROWS * C {
        y[(i / C) * CO + OFF + i % C] = x[i];
    }
}
