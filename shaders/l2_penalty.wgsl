// One layer's L2 penalty, l2 * sum(w^2), for the reported loss (`metrics`
// adds every layer's). One workgroup; summed in a fixed order, so the same
// every run.
//
// Generated constants: N OFF L2 SLOT WG
// Generated function:  workgroup_sum (shaders/workgroup_sum.wgsl)

@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<storage, read_write> penalty: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) local: u32) {
    var sum = 0.0;
    for (var i = local; i < N; i += WG) {
        let w = params[OFF + i];
        sum += w * w;
    }
    let total = workgroup_sum(local, sum);
    if local == 0u {
        penalty[SLOT] = L2 * total;
    }
}
