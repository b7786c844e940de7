// Adam over every parameter at once, as Keras does it:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  w -= alpha m / (sqrt(v) + eps)
// with alpha = lr sqrt(1 - b2^t) / (1 - b1^t), computed once per step on the CPU.
//
// Generated constants: N WG

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    let g = grads[i];
    let m_i = step.beta1 * m[i] + (1.0 - step.beta1) * g;
    let v_i = step.beta2 * v[i] + (1.0 - step.beta2) * g * g;
    m[i] = m_i;
    v[i] = v_i;
    params[i] -= step.alpha * m_i / (sqrt(v_i) + step.epsilon);
}
