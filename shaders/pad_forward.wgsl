// Zero padding: each output element (NHWC) is the input element it covers,
// or zero in the border of PH rows above and below and PW columns left
// and right.
//
// Generated constants: N H W C HO WO PH PW WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    let ch = i % C;
    let col = i / C % WO;
    let row = i / (C * WO) % HO;
    let b = i / (C * WO * HO);
    // Unsigned: a position in the border above or left wraps past H or W.
    let r = row - PH;
    let c = col - PW;
    var v = 0.0;
    if r < H && c < W {
        v = x[((b * H + r) * W + c) * C + ch];
    }
    y[i] = v;
}
