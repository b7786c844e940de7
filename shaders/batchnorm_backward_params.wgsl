// Batchnorm backward, per channel: the gradients of its scale and shift,
//   dgamma = sum(dy * xhat),  dbeta = sum(dy),  xhat = (x - mean) / std,
// over the real samples. One workgroup per channel.
//
// Generated constants: B S C GAMMA_OFF BETA_OFF WG
// Generated function:  workgroup_sum (shaders/workgroup_sum.wgsl)

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    // More than 65535 channels spill into y.
    let c = group.x + group.y * groups.x;
    if c >= C {
        return;
    }
    let count = min(step.samples, B) * S;
    let mean = stats[c];
    let inv_std = stats[C + c];
    var dgamma = 0.0;
    var dbeta = 0.0;
    for (var e = local; e < count; e += WG) {
        let d = dy[e * C + c];
        dgamma += d * (x[e * C + c] - mean) * inv_std;
        dbeta += d;
    }
    dgamma = workgroup_sum(local, dgamma);
    dbeta = workgroup_sum(local, dbeta);
    if local == 0u {
        grads[GAMMA_OFF + c] = dgamma;
        grads[BETA_OFF + c] = dbeta;
    }
}
