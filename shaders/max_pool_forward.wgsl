// Max pooling forward, NHWC: one invocation per output value. Keeps the
// index of the winning input for the backward pass (the first maximum, as
// TensorFlow and PyTorch pick it on ties).
//
// Generated constants: B IH IW C OH OW KH KW STRIDE WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = invocation(gid, groups);
    if o >= B * OH * OW * C {
        return;
    }
    let c = o % C;
    let ox = (o / C) % OW;
    let oy = (o / (C * OW)) % OH;
    let n = o / (C * OW * OH);
    var best = -3.402823e38;
    var best_i = 0u;
    for (var ky = 0u; ky < KH; ky++) {
        for (var kx = 0u; kx < KW; kx++) {
            let i = ((n * IH + oy * STRIDE + ky) * IW + ox * STRIDE + kx) * C + c;
            let v = x[i];
            if v > best || (ky == 0u && kx == 0u) {
                best = v;
                best_i = i;
            }
        }
    }
    y[o] = best;
    argmax[o] = best_i;
}
