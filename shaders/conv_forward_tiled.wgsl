// Convolution forward (and dense), NHWC, as an implicit GEMM with a
// register tile written out in full: each invocation computes TM output
// pixels x TN channels as TM x TN/4 vec4 accumulators. Per input channel
// it loads TM pixel values and TN/4 vec4 weights for TM x TN multiply-adds.
// The `//% for` lines are loops that codegen writes out (see
// src/codegen/unroll.rs), with a dollar-braced `r` replaced by its value.
// Used when CO is a multiple of TN (and TN of 4); conv_forward.wgsl
// covers the rest.
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L
//                      W_OFF BIAS_OFF TM TN TN4 WG
// Generated function:  activate4(x)

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;

const M: u32 = B * OH * OW;
const CO4: u32 = CO / 4u;
const TILES_M: u32 = (M + TM - 1u) / TM;
const TILES_N: u32 = CO / TN;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = invocation(gid, groups);
    if id >= TILES_M * TILES_N {
        return;
    }
    let m0 = (id % TILES_M) * TM;
    let c4 = (id / TILES_M) * TN4;

    // Each row's sample and the top-left corner of its receptive field.
    //% for r in 0..TM
    let row${r} = min(m0 + ${r}u, M - 1u); // rows past M are computed, never stored
    let base${r} = (row${r} / (OH * OW)) * IH * IW;
    let top${r} = i32((row${r} % (OH * OW)) / OW * STRIDE) - i32(PAD_T);
    let left${r} = i32((row${r} % OW) * STRIDE) - i32(PAD_L);
    //% end
    //% for r in 0..TM
    //% for j in 0..TN4
    var acc${r}_${j} = vec4<f32>(0.0);
    //% end
    //% end

    for (var ky = 0u; ky < KH; ky++) {
        for (var kx = 0u; kx < KW; kx++) {
            //% for r in 0..TM
            let iy${r} = top${r} + i32(ky);
            let ix${r} = left${r} + i32(kx);
            // 1 inside the image, 0 in the zero padding.
            let in${r} = select(0.0, 1.0, iy${r} >= 0 && iy${r} < i32(IH) && ix${r} >= 0 && ix${r} < i32(IW));
            let src${r} = (base${r} + u32(clamp(iy${r}, 0, i32(IH) - 1)) * IW + u32(clamp(ix${r}, 0, i32(IW) - 1))) * CI;
            //% end
            let w_row = W_OFF / 4u + (ky * KW + kx) * CI * CO4 + c4;
            for (var ci = 0u; ci < CI; ci++) {
                //% for j in 0..TN4
                let w${j} = params[w_row + ci * CO4 + ${j}u];
                //% end
                //% for r in 0..TM
                let a${r} = vec4<f32>(x[src${r} + ci] * in${r});
                //% for j in 0..TN4
                acc${r}_${j} = fma(a${r}, w${j}, acc${r}_${j});
                //% end
                //% end
            }
        }
    }

    //% for j in 0..TN4
    let bias${j} = params[BIAS_OFF / 4u + c4 + ${j}u];
    //% end
    //% for r in 0..TM
    if m0 + ${r}u < M {
        //% for j in 0..TN4
        y[(m0 + ${r}u) * CO4 + c4 + ${j}u] = activate4(acc${r}_${j} + bias${j});
        //% end
    }
    //% end
}
