// Batchnorm backward, the input's gradient (the batch's statistics depend on
// every input, hence the two sums batchnorm_backward_params left in grads):
//   dx = gamma / std * (dy - dbeta / m - xhat * dgamma / m),  m = real samples x positions,
// then through the producer's activation. Padding samples get zero.
//
// Generated constants: N B S C GAMMA_OFF BETA_OFF WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<f32>;
@group(0) @binding(4) var<storage, read> grads: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    let samples = min(step.samples, B);
    if i / (S * C) >= samples {
        dx[i] = 0.0;
        return;
    }
    let c = i % C;
    let m = f32(samples * S);
    let inv_std = stats[C + c];
    let xhat = (x[i] - stats[c]) * inv_std;
    let g = dy[i] - grads[BETA_OFF + c] / m - xhat * grads[GAMMA_OFF + c] / m;
    dx[i] = params[GAMMA_OFF + c] * inv_std * g * input_derivative(x[i]);
}
