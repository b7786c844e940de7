// Convolution forward, NHWC (also a dense layer: a 1x1 convolution of a
// 1x1 image), as an implicit GEMM. Rows are output pixels m = (n, oy, ox),
// columns are output channels, and the sum runs over (ky, kx, ci).
// Each invocation keeps a TM x TN block of outputs in registers, so every
// input value it loads serves TN filters and every weight serves TM pixels.
// Bias and activation are applied before the one store.
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L
//                      W_OFF BIAS_OFF TM TN WG
// Generated function:  activate(x)

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const M: u32 = B * OH * OW;
const TILES_M: u32 = (M + TM - 1u) / TM;
const TILES_N: u32 = (CO + TN - 1u) / TN;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = invocation(gid, groups);
    if id >= TILES_M * TILES_N {
        return;
    }
    let m0 = (id % TILES_M) * TM;
    let c0 = (id / TILES_M) * TN;

    // Each row's sample and the top-left corner of its receptive field.
    var row_base: array<u32, TM>;
    var row_y: array<i32, TM>;
    var row_x: array<i32, TM>;
    for (var r = 0u; r < TM; r++) {
        let m = min(m0 + r, M - 1u); // rows past M are computed, never stored
        let p = m % (OH * OW);
        row_base[r] = (m / (OH * OW)) * IH * IW;
        row_y[r] = i32((p / OW) * STRIDE) - i32(PAD_T);
        row_x[r] = i32((p % OW) * STRIDE) - i32(PAD_L);
    }

    var acc: array<array<f32, TN>, TM>;
    for (var ky = 0u; ky < KH; ky++) {
        for (var kx = 0u; kx < KW; kx++) {
            var src: array<u32, TM>;
            var inside: array<bool, TM>;
            for (var r = 0u; r < TM; r++) {
                let iy = row_y[r] + i32(ky);
                let ix = row_x[r] + i32(kx);
                inside[r] = iy >= 0 && iy < i32(IH) && ix >= 0 && ix < i32(IW);
                let cy = u32(clamp(iy, 0, i32(IH) - 1));
                let cx = u32(clamp(ix, 0, i32(IW) - 1));
                src[r] = (row_base[r] + cy * IW + cx) * CI;
            }
            let w_row = W_OFF + (ky * KW + kx) * CI * CO;
            for (var ci = 0u; ci < CI; ci++) {
                var a: array<f32, TM>;
                for (var r = 0u; r < TM; r++) {
                    a[r] = select(0.0, x[src[r] + ci], inside[r]); // zero padding
                }
                for (var j = 0u; j < TN; j++) {
                    let w = params[w_row + ci * CO + min(c0 + j, CO - 1u)];
                    for (var r = 0u; r < TM; r++) {
                        acc[r][j] = fma(a[r], w, acc[r][j]);
                    }
                }
            }
        }
    }

    for (var r = 0u; r < TM; r++) {
        for (var j = 0u; j < TN; j++) {
            if m0 + r < M && c0 + j < CO {
                y[(m0 + r) * CO + c0 + j] = activate(acc[r][j] + params[BIAS_OFF + c0 + j]);
            }
        }
    }
}
