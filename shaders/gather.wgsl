// Builds a batch on the GPU from a dataset uploaded once as bytes: for each
// slot of the batch, the sample chosen by the host (a shuffled index), its
// pixels scaled from 0..255 to 0..1. The dataset may span up to four
// buffers (one binding is limited in size), each holding SPC whole samples.
//
// In training, each slot's image may be augmented (--augment), with random
// choices drawn from the step's seed and the slot, as `augment.rs` draws
// them on the CPU: a horizontal flip (FLIP), then a translation of up to
// SHIFT pixels with the edges reflected (SHIFT), then a zero padding of CROP
// pixels and a random crop back to the input size (CROP). Each output pixel
// is read from where these put it.
//
// Generated constants: B E (bytes per sample) H W C SPC FLIP SHIFT CROP WG

@group(0) @binding(0) var<storage, read> data0: array<u32>;
@group(0) @binding(1) var<storage, read> data1: array<u32>;
@group(0) @binding(2) var<storage, read> data2: array<u32>;
@group(0) @binding(3) var<storage, read> data3: array<u32>;
// Per batch slot, the sample to load; 0xFFFFFFFF marks padding.
@group(0) @binding(4) var<storage, read> indices: array<u32>;
@group(0) @binding(5) var<storage, read_write> input: array<f32>;
@group(0) @binding(6) var<uniform> step: Step;

const PADDING: u32 = 0xFFFFFFFFu;

// Byte `offset` of chunk `chunk`, bytes packed four to a word, little-endian.
fn byte_at(chunk: u32, offset: u32) -> u32 {
    let i = offset / 4u;
    var word: u32;
    switch chunk {
        case 0u: { word = data0[i]; }
        case 1u: { word = data1[i]; }
        case 2u: { word = data2[i]; }
        default: { word = data3[i]; }
    }
    return (word >> (8u * (offset % 4u))) & 0xFFu;
}

// A uniform integer in [-p, p] from a hash.
fn offset_in(hash: u32, p: u32) -> i32 {
    return i32(hash % (2u * p + 1u)) - i32(p);
}

// Keras's `reflect` fill: d c b a | a b c d | d c b a. `%` only of
// non-negative operands: GLSL leaves a negative one's remainder undefined
// (naga 30 writes WGSL's `%` as GLSL's, and llvmpipe's GL takes -1 % 10 as
// 4294967295u % 10).
fn reflect(v: i32, n: i32) -> i32 {
    let period = 2 * n;
    let periods_below = select(0, -v / period + 1, v < 0);
    let m = (v + periods_below * period) % period;
    return select(m, period - 1 - m, m >= n);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= B * E {
        return;
    }
    let slot = i / E;
    let sample = indices[slot];
    if sample == PADDING {
        input[i] = 0.0;
        return;
    }
    var p = i % E;
    if step.training != 0u && (FLIP + SHIFT + CROP) != 0u {
        let key = pcg_hash(step.seed ^ pcg_hash(slot ^ 0x5bd1e995u));
        var y = i32(p / (W * C));
        var x = i32((p / C) % W);
        let c = p % C;
        if CROP != 0u {
            y += offset_in(pcg_hash(key + 3u), CROP);
            x += offset_in(pcg_hash(key + 4u), CROP);
            if y < 0 || y >= i32(H) || x < 0 || x >= i32(W) {
                input[i] = 0.0;
                return;
            }
        }
        if SHIFT != 0u {
            y = reflect(y - offset_in(pcg_hash(key + 1u), SHIFT), i32(H));
            x = reflect(x - offset_in(pcg_hash(key + 2u), SHIFT), i32(W));
        }
        if FLIP != 0u && (pcg_hash(key) & 1u) == 1u {
            x = i32(W) - 1 - x;
        }
        p = (u32(y) * W + u32(x)) * C + c;
    }
    let offset = (sample % SPC) * E + p;
    input[i] = f32(byte_at(sample / SPC, offset)) / 255.0;
}
