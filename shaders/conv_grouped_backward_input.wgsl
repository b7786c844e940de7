// Gradient of a grouped convolution's input: rows are input pixels,
// columns input channels; a tile's TN columns lie in one group (TN divides
// CIG), and its sum runs over (ky, kx) and that group's COG output
// channels:
//   dx[n, iy, ix, ci] = sum of dz[n, oy, ox, co] * w[ky, kx, ci % CIG, co]
// over co in ci's group, where oy * STRIDE = iy + PAD_T - ky (likewise x).
// The register tile is written out in scalars (see
// conv_grouped_forward.wgsl); the epilogue multiplies by the derivative of
// the activation that produced `x` (see conv_backward_input.wgsl).
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L
//                      CIG COG W_OFF TM TN WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dz: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const M: u32 = B * IH * IW;
const TILES_M: u32 = (M + TM - 1u) / TM;
const TILES_N: u32 = CI / TN;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = invocation(gid, groups);
    if id >= TILES_M * TILES_N {
        return;
    }
    let m0 = (id % TILES_M) * TM;
    let c0 = (id / TILES_M) * TN;
    // The tile's group: its first output channel, and the first column's
    // channel within the group (the kernel's row).
    let g = c0 / CIG;
    let co0 = g * COG;
    let cl0 = c0 - g * CIG;

    //% for r in 0..TM
    let row${r} = min(m0 + ${r}u, M - 1u);
    let base${r} = (row${r} / (IH * IW)) * OH * OW;
    let ty${r} = i32((row${r} % (IH * IW)) / IW) + i32(PAD_T);
    let tx${r} = i32(row${r} % IW) + i32(PAD_L);
    //% end
    //% for r in 0..TM
    //% for j in 0..TN
    var acc${r}_${j} = 0.0;
    //% end
    //% end

    for (var ky = 0u; ky < KH; ky++) {
        for (var kx = 0u; kx < KW; kx++) {
            // The output pixel whose window put tap (ky, kx) on each row.
            //% for r in 0..TM
            let oy${r} = ty${r} - i32(ky);
            let ox${r} = tx${r} - i32(kx);
            let hit${r} = select(0.0, 1.0, oy${r} >= 0 && ox${r} >= 0 && oy${r} % i32(STRIDE) == 0 && ox${r} % i32(STRIDE) == 0 && oy${r} / i32(STRIDE) < i32(OH) && ox${r} / i32(STRIDE) < i32(OW));
            let src${r} = (base${r} + u32(clamp(oy${r} / i32(STRIDE), 0, i32(OH) - 1)) * OW + u32(clamp(ox${r} / i32(STRIDE), 0, i32(OW) - 1))) * CO + co0;
            //% end
            let w_tap = W_OFF + (ky * KW + kx) * CIG * CO + co0;
            for (var co = 0u; co < COG; co++) {
                //% for j in 0..TN
                let w${j} = params[w_tap + (cl0 + ${j}u) * CO + co];
                //% end
                //% for r in 0..TM
                let d${r} = dz[src${r} + co] * hit${r};
                //% for j in 0..TN
                acc${r}_${j} = fma(d${r}, w${j}, acc${r}_${j});
                //% end
                //% end
            }
        }
    }

    //% for r in 0..TM
    if m0 + ${r}u < M {
        //% for j in 0..TN
        let i${r}_${j} = (m0 + ${r}u) * CI + c0 + ${j}u;
        dx[i${r}_${j}] = acc${r}_${j} * input_derivative(x[i${r}_${j}]);
        //% end
    }
    //% end
}
