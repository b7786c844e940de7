// Global max pooling, NHWC: one invocation per (sample, channel) finds the
// channel's maximum over the image and keeps the index of the winning
// input (the first maximum, as max_pool_forward.wgsl) for the backward pass.
//
// Generated constants: B HW C WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = invocation(gid, groups);
    if o >= B * C {
        return;
    }
    let first = (o / C) * HW * C + o % C;
    var best = x[first];
    var best_i = first;
    for (var p = 1u; p < HW; p++) {
        let i = first + p * C;
        if x[i] > best {
            best = x[i];
            best_i = i;
        }
    }
    y[o] = best;
    argmax[o] = best_i;
}
