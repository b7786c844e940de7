// Zero padding backward: each input element's gradient is that of the
// output position it was copied to, through the producer's activation.
//
// Generated constants: N H W C HO WO PH PW WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    let ch = i % C;
    let col = i / C % W;
    let row = i / (C * W) % H;
    let b = i / (C * W * H);
    let o = ((b * HO + row + PH) * WO + col + PW) * C + ch;
    dx[i] = dy[o] * input_derivative(x[i]);
}
