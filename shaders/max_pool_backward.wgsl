// Max pooling backward: one invocation per input value, which gathers the
// gradient of every output whose window chose it. Gathering instead of
// scattering needs no atomics, so overlapping windows stay deterministic.
//
// Generated constants: B IH IW C OH OW KH KW STRIDE WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
// The pool's input on entry, its gradient on exit: each invocation reads
// its own element (for the derivative) before overwriting it, and the
// backward pass needs the input for nothing else, so the gradient takes
// its place instead of a buffer of its own.
@group(0) @binding(2) var<storage, read_write> x_then_dx: array<f32>;

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
    // Outputs oy with oy * STRIDE <= iy < oy * STRIDE + KH.
    let oy_lo = select(0u, (iy + STRIDE - KH) / STRIDE, iy + STRIDE >= KH);
    let ox_lo = select(0u, (ix + STRIDE - KW) / STRIDE, ix + STRIDE >= KW);
    let oy_hi = min(iy / STRIDE, OH - 1u);
    let ox_hi = min(ix / STRIDE, OW - 1u);
    var sum = 0.0;
    for (var oy = oy_lo; oy <= oy_hi; oy++) {
        for (var ox = ox_lo; ox <= ox_hi; ox++) {
            let o = ((n * OH + oy) * OW + ox) * C + c;
            if argmax[o] == i {
                sum += dy[o];
            }
        }
    }
    x_then_dx[i] = sum * input_derivative(x_then_dx[i]);
}
