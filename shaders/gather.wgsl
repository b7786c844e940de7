// Builds a batch on the GPU from a dataset uploaded once as bytes: for each
// slot of the batch, the sample chosen by the host (a shuffled index), its
// pixels scaled from 0..255 to 0..1. The dataset may span up to four
// buffers (one binding is limited in size), each holding SPC whole samples.
//
// Generated constants: B E (bytes per sample) SPC (samples per chunk) WG

@group(0) @binding(0) var<storage, read> data0: array<u32>;
@group(0) @binding(1) var<storage, read> data1: array<u32>;
@group(0) @binding(2) var<storage, read> data2: array<u32>;
@group(0) @binding(3) var<storage, read> data3: array<u32>;
// Per batch slot, the sample to load; 0xFFFFFFFF marks padding.
@group(0) @binding(4) var<storage, read> indices: array<u32>;
@group(0) @binding(5) var<storage, read_write> input: array<f32>;

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

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = invocation(gid, groups);
    if i >= B * E {
        return;
    }
    let sample = indices[i / E];
    if sample == PADDING {
        input[i] = 0.0;
        return;
    }
    let offset = (sample % SPC) * E + i % E;
    input[i] = f32(byte_at(sample / SPC, offset)) / 255.0;
}
