// SGD with momentum over every parameter at once, as Keras does it:
//   velocity = momentum * velocity - lr * g;  w += velocity
//
// Generated constants: N WG

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= N {
        return;
    }
    let v = step.beta1 * velocity[i] - step.lr * grads[i];
    velocity[i] = v;
    params[i] += v;
}
