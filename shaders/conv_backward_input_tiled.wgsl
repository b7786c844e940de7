// Gradient of a convolution's input (and of a dense layer's), with the
// register tile written out: each invocation computes TM input pixels x TN
// input channels, summing over (ky, kx) and over output channels four at a
// time, as dot products of vec4s of dz and of the kernel (both contiguous
// along the output channel in NHWC and HWIO).
// The epilogue multiplies by the derivative of the activation that produced
// `x` (see conv_backward_input.wgsl). Used when CO is a multiple of 4.
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L W_OFF TM TN WG
// Generated function:  input_derivative(x), of the producer's output

@group(0) @binding(0) var<storage, read> dz: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const M: u32 = B * IH * IW;
const CO4: u32 = CO / 4u;
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

    //% for r in 0..TM
    let row${r} = min(m0 + ${r}u, M - 1u);
    let base${r} = (row${r} / (IH * IW)) * OH * OW;
    let ty${r} = i32((row${r} % (IH * IW)) / IW) + i32(PAD_T);
    let tx${r} = i32(row${r} % IW) + i32(PAD_L);
    //% end
    // Each column's kernel row (clamped: columns past CI are never stored).
    //% for j in 0..TN
    let ci${j} = min(c0 + ${j}u, CI - 1u) * CO4;
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
            let src${r} = (base${r} + u32(clamp(oy${r} / i32(STRIDE), 0, i32(OH) - 1)) * OW + u32(clamp(ox${r} / i32(STRIDE), 0, i32(OW) - 1))) * CO4;
            //% end
            let w_tap = W_OFF / 4u + (ky * KW + kx) * CI * CO4;
            for (var co = 0u; co < CO4; co++) {
                //% for j in 0..TN
                let w${j} = params[w_tap + ci${j} + co];
                //% end
                //% for r in 0..TM
                let d${r} = dz[src${r} + co] * hit${r};
                //% for j in 0..TN
                acc${r}_${j} += dot(d${r}, w${j});
                //% end
                //% end
            }
        }
    }

    //% for r in 0..TM
    //% for j in 0..TN
    if m0 + ${r}u < M && c0 + ${j}u < CI {
        let i = (m0 + ${r}u) * CI + c0 + ${j}u;
        dx[i] = acc${r}_${j} * input_derivative(x[i]);
    }
    //% end
    //% end
}
