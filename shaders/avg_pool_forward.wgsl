// Average pooling forward, NHWC: one invocation per output value. Windows
// lie wholly inside the input (Keras `valid`), so each averages KH x KW.
//
// Generated constants: B IH IW C OH OW KH KW STRIDE WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

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
    var sum = 0.0;
    for (var ky = 0u; ky < KH; ky++) {
        for (var kx = 0u; kx < KW; kx++) {
            sum += x[((n * IH + oy * STRIDE + ky) * IW + ox * STRIDE + kx) * C + c];
        }
    }
    y[o] = sum / f32(KH * KW);
}
