// Gradient of a convolution's input (and of a dense layer's):
//   dx[n, iy, ix, ci] = sum over (ky, kx, co) of dz[n, oy, ox, co] * w[ky, kx, ci, co]
// where oy * STRIDE = iy + PAD_T - ky (and likewise for x). The forward
// GEMM transposed: rows are input pixels, columns input channels, and the
// sum runs over (ky, kx, co), TM x TN outputs per invocation.
//
// `dz` is the gradient before this layer's activation. The epilogue
// multiplies by the derivative of the activation that produced `x`, so
// `dx` is in turn the gradient before that one: each activation's
// derivative is applied once, by the kernel that computes its gradient.
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L W_OFF TM TN WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dz: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const M: u32 = B * IH * IW;
const TILES_M: u32 = (M + TM - 1u) / TM;
const TILES_N: u32 = (CI + TN - 1u) / TN;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = invocation(gid, groups);
    if id >= TILES_M * TILES_N {
        return;
    }
    let m0 = (id % TILES_M) * TM;
    let c0 = (id / TILES_M) * TN;

    var row_base: array<u32, TM>;
    var row_y: array<i32, TM>;
    var row_x: array<i32, TM>;
    for (var r = 0u; r < TM; r++) {
        let m = min(m0 + r, M - 1u);
        let p = m % (IH * IW);
        row_base[r] = (m / (IH * IW)) * OH * OW;
        row_y[r] = i32(p / IW) + i32(PAD_T);
        row_x[r] = i32(p % IW) + i32(PAD_L);
    }

    var acc: array<array<f32, TN>, TM>;
    for (var ky = 0u; ky < KH; ky++) {
        for (var kx = 0u; kx < KW; kx++) {
            var src: array<u32, TM>;
            var hit: array<bool, TM>;
            for (var r = 0u; r < TM; r++) {
                // The output pixel whose window put tap (ky, kx) on this input.
                let ty = row_y[r] - i32(ky);
                let tx = row_x[r] - i32(kx);
                let oy = ty / i32(STRIDE);
                let ox = tx / i32(STRIDE);
                hit[r] = ty >= 0 && tx >= 0 && ty % i32(STRIDE) == 0 && tx % i32(STRIDE) == 0
                    && oy < i32(OH) && ox < i32(OW);
                let cy = u32(clamp(oy, 0, i32(OH) - 1));
                let cx = u32(clamp(ox, 0, i32(OW) - 1));
                src[r] = (row_base[r] + cy * OW + cx) * CO;
            }
            let w_row = W_OFF + (ky * KW + kx) * CI * CO;
            for (var co = 0u; co < CO; co++) {
                var a: array<f32, TM>;
                for (var r = 0u; r < TM; r++) {
                    a[r] = select(0.0, dz[src[r] + co], hit[r]);
                }
                for (var j = 0u; j < TN; j++) {
                    let w = params[w_row + min(c0 + j, CI - 1u) * CO + co];
                    for (var r = 0u; r < TM; r++) {
                        acc[r][j] = fma(a[r], w, acc[r][j]);
                    }
                }
            }
        }
    }

    for (var r = 0u; r < TM; r++) {
        for (var j = 0u; j < TN; j++) {
            if m0 + r < M && c0 + j < CI {
                let i = (m0 + r) * CI + c0 + j;
                dx[i] = acc[r][j] * input_derivative(x[i]);
            }
        }
    }
}
