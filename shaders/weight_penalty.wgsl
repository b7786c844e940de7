// Regularisation of one weight tensor, just before the optimizer step:
// the layer's `l2` (Keras: loss += l2 * sum(w^2), so the gradient gains
// 2 l2 w) and --weight-decay: coupled (added to the gradient, as SGD and
// Adam take it) or decoupled (AdamW: w *= 1 - lr * decay, then the step).
//
// Generated constants: N OFF L2X2 DECOUPLED WG

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    let w = params[OFF + i];
    var g = grads[OFF + i] + L2X2 * w;
    if DECOUPLED == 0u {
        g += step.weight_decay * w;
    } else {
        params[OFF + i] = w * (1.0 - step.lr * step.weight_decay);
    }
    grads[OFF + i] = g;
}
