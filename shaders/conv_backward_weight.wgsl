// Gradient of a convolution's kernel (and of a dense layer's weight):
//   dw[ky, kx, ci, co] = sum over (n, oy, ox) of
//                        x[n, oy*STRIDE + ky - PAD_T, ox*STRIDE + kx - PAD_L, ci] * dz[n, oy, ox, co]
// Rows are kernel taps k = (ky, kx, ci), columns output channels, and the
// sum runs over every output pixel of the batch, in a fixed order: the
// result is the same on every run.
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L W_OFF TM TN WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;

const K: u32 = KH * KW * CI;
const TILES_M: u32 = (K + TM - 1u) / TM;
const TILES_N: u32 = (CO + TN - 1u) / TN;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = invocation(gid, groups);
    if id >= TILES_M * TILES_N {
        return;
    }
    let k0 = (id % TILES_M) * TM;
    let c0 = (id / TILES_M) * TN;

    // Each row's tap: its offset from the window's corner, and its channel.
    var tap_y: array<i32, TM>;
    var tap_x: array<i32, TM>;
    var tap_c: array<u32, TM>;
    for (var r = 0u; r < TM; r++) {
        let k = min(k0 + r, K - 1u);
        tap_y[r] = i32(k / (KW * CI)) - i32(PAD_T);
        tap_x[r] = i32((k / CI) % KW) - i32(PAD_L);
        tap_c[r] = k % CI;
    }

    var acc: array<array<f32, TN>, TM>;
    for (var n = 0u; n < B; n++) {
        for (var oy = 0u; oy < OH; oy++) {
            for (var ox = 0u; ox < OW; ox++) {
                var a: array<f32, TM>;
                for (var r = 0u; r < TM; r++) {
                    let iy = i32(oy * STRIDE) + tap_y[r];
                    let ix = i32(ox * STRIDE) + tap_x[r];
                    let inside = iy >= 0 && iy < i32(IH) && ix >= 0 && ix < i32(IW);
                    let cy = u32(clamp(iy, 0, i32(IH) - 1));
                    let cx = u32(clamp(ix, 0, i32(IW) - 1));
                    a[r] = select(0.0, x[((n * IH + cy) * IW + cx) * CI + tap_c[r]], inside);
                }
                let d_row = ((n * OH + oy) * OW + ox) * CO;
                for (var j = 0u; j < TN; j++) {
                    let d = dz[d_row + min(c0 + j, CO - 1u)];
                    for (var r = 0u; r < TM; r++) {
                        acc[r][j] = fma(a[r], d, acc[r][j]);
                    }
                }
            }
        }
    }

    for (var r = 0u; r < TM; r++) {
        for (var j = 0u; j < TN; j++) {
            if k0 + r < K && c0 + j < CO {
                grads[W_OFF + (k0 + r) * CO + c0 + j] = acc[r][j];
            }
        }
    }
}
