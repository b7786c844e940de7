// Included (after the constants) by kernels that reduce within one
// workgroup of WG invocations, WG a power of two: `Header::workgroup_sum`.

var<workgroup> partial: array<f32, WG>;

// The sum of every invocation's `value`, known to all of them. Call it in
// uniform control flow (it waits at barriers).
fn workgroup_sum(local: u32, value: f32) -> f32 {
    partial[local] = value;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if local < half {
            partial[local] += partial[local + half];
        }
        workgroupBarrier();
    }
    let sum = partial[0];
    workgroupBarrier();
    return sum;
}
