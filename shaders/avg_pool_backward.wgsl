// Average pooling backward: one invocation per input value, gathering an
// equal share of the gradient of every output whose window covers it.
//
// Generated constants: B IH IW C OH OW KH KW STRIDE WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dy: array<f32>;
// The pool's input on entry, its gradient on exit (see max_pool_backward.wgsl).
@group(0) @binding(1) var<storage, read_write> x_then_dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= B * IH * IW * C {
        return;
    }
    let c = i % C;
    let ix = (i / C) % IW;
    let iy = (i / (C * IW)) % IH;
    let n = i / (C * IW * IH);
    let oy_lo = select(0u, (iy + STRIDE - KH) / STRIDE, iy + STRIDE >= KH);
    let ox_lo = select(0u, (ix + STRIDE - KW) / STRIDE, ix + STRIDE >= KW);
    let oy_hi = min(iy / STRIDE, OH - 1u);
    let ox_hi = min(ix / STRIDE, OW - 1u);
    var sum = 0.0;
    for (var oy = oy_lo; oy <= oy_hi; oy++) {
        for (var ox = ox_lo; ox <= ox_hi; ox++) {
            sum += dy[((n * OH + oy) * OW + ox) * C + c];
        }
    }
    x_then_dx[i] = sum / f32(KH * KW) * input_derivative(x_then_dx[i]);
}
