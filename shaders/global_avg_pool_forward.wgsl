// Global average pooling, NHWC: one invocation per (sample, channel) sums
// the channel over the image's HW pixels in order (deterministic).
//
// Generated constants: B HW C WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = invocation(gid, groups);
    if o >= B * C {
        return;
    }
    let first = (o / C) * HW * C + o % C;
    var sum = 0.0;
    for (var p = 0u; p < HW; p++) {
        sum += x[first + p * C];
    }
    y[o] = sum / f32(HW);
}
