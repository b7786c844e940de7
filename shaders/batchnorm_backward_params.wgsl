// Batchnorm backward, per channel: the gradients of its scale and shift,
//   dgamma = sum(dy * xhat),  dbeta = sum(dy),  xhat = (x - mean) / std,
// over the real samples. One workgroup per channel.
//
// Generated constants: B S C GAMMA_OFF BETA_OFF WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;

var<workgroup> partial: array<vec2<f32>, WG>;

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
    var sums = vec2<f32>(0.0);
    for (var e = local; e < count; e += WG) {
        let d = dy[e * C + c];
        sums += vec2<f32>(d * (x[e * C + c] - mean) * inv_std, d);
    }
    partial[local] = sums;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if local < half {
            partial[local] += partial[local + half];
        }
        workgroupBarrier();
    }
    if local == 0u {
        grads[GAMMA_OFF + c] = partial[0].x;
        grads[BETA_OFF + c] = partial[0].y;
    }
}
