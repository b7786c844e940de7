// Grouped convolution forward, NHWC, as an implicit GEMM: rows are output
// pixels, columns output channels. The channels split into groups of CIG
// inputs and COG outputs; a tile's TN columns lie in one group (TN divides
// COG), and its sum runs over (ky, kx) and that group's CIG input channels.
// The kernel is [KH][KW][CIG][CO]. The register tile (TM pixels x TN
// channels) is written out as in conv_forward_tiled.wgsl, in scalars, so
// that any group width works: a depthwise convolution has COG = 1.
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L
//                      CIG COG W_OFF BIAS_OFF TM TN WG
// Generated function:  activate(x)

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const M: u32 = B * OH * OW;
const TILES_M: u32 = (M + TM - 1u) / TM;
const TILES_N: u32 = CO / TN;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = invocation(gid, groups);
    if id >= TILES_M * TILES_N {
        return;
    }
    let m0 = (id % TILES_M) * TM;
    let c0 = (id / TILES_M) * TN;
    // The first input channel of the tile's group.
    let g0 = (c0 / COG) * CIG;

    //% for r in 0..TM
    let row${r} = min(m0 + ${r}u, M - 1u); // rows past M are computed, never stored
    let base${r} = (row${r} / (OH * OW)) * IH * IW;
    let top${r} = i32((row${r} % (OH * OW)) / OW * STRIDE) - i32(PAD_T);
    let left${r} = i32((row${r} % OW) * STRIDE) - i32(PAD_L);
    //% end
    //% for r in 0..TM
    //% for j in 0..TN
    var acc${r}_${j} = 0.0;
    //% end
    //% end

    for (var ky = 0u; ky < KH; ky++) {
        for (var kx = 0u; kx < KW; kx++) {
            //% for r in 0..TM
            let iy${r} = top${r} + i32(ky);
            let ix${r} = left${r} + i32(kx);
            // 1 inside the image, 0 in the zero padding.
            let in${r} = select(0.0, 1.0, iy${r} >= 0 && iy${r} < i32(IH) && ix${r} >= 0 && ix${r} < i32(IW));
            let src${r} = (base${r} + u32(clamp(iy${r}, 0, i32(IH) - 1)) * IW + u32(clamp(ix${r}, 0, i32(IW) - 1))) * CI + g0;
            //% end
            let w_row = W_OFF + (ky * KW + kx) * CIG * CO + c0;
            for (var ci = 0u; ci < CIG; ci++) {
                //% for j in 0..TN
                let w${j} = params[w_row + ci * CO + ${j}u];
                //% end
                //% for r in 0..TM
                let a${r} = x[src${r} + ci] * in${r};
                //% for j in 0..TN
                acc${r}_${j} = fma(a${r}, w${j}, acc${r}_${j});
                //% end
                //% end
            }
        }
    }

    //% for r in 0..TM
    if m0 + ${r}u < M {
        //% for j in 0..TN
        y[(m0 + ${r}u) * CO + c0 + ${j}u] = activate(acc${r}_${j} + params[BIAS_OFF + c0 + ${j}u]);
        //% end
    }
    //% end
}
