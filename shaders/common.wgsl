// Included in every kernel cnnc emits, after the generated constants.

// Values that change from step to step, written before each submission
// (`runtime::StepUniform` on the Rust side). Everything else is a constant.
struct Step {
    // Samples of this batch that are real; the rest of the batch is padding
    // and contributes neither loss nor gradient.
    samples: u32,
    // 1 in training: dropout drops. 0 in evaluation.
    training: u32,
    // The run's seed mixed with the step number: dropout masks.
    seed: u32,
    // Optimizer steps taken, this one included (Adam's bias correction).
    t: u32,
    lr: f32,
    // Adam: lr * sqrt(1 - beta2^t) / (1 - beta1^t), computed on the CPU.
    alpha: f32,
    // Adam's beta1, or SGD's momentum.
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    weight_decay: f32,
    pad0: u32,
    pad1: u32,
}

// The linear index of this invocation in a dispatch of `groups`
// workgroups of WG invocations (dispatches wider than 65535 groups use y).
fn invocation(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
}

// The PCG hash (Jarzynski and Olano, 2020); `rng::pcg_hash` on the CPU.
fn pcg_hash(x: u32) -> u32 {
    let state = x * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Whether dropout keeps element `index`; `rng::dropout_keep` on the CPU.
fn dropout_keep(key: u32, index: u32, threshold: u32) -> bool {
    return pcg_hash((index * 0x9E3779B9u) ^ key) >= threshold;
}

fn dropout_key(step_seed: u32, salt: u32) -> u32 {
    return pcg_hash(step_seed ^ pcg_hash(salt));
}
