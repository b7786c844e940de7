// Gradient of a grouped convolution's kernel [KH][KW][CIG][CO]: rows are
// kernel taps k = (ky, kx, ci within the group), columns output channels;
// a tile's TN columns lie in one group (TN divides COG), whose input
// channels its taps read:
//   dw[ky, kx, ci, co] = sum over (n, oy, ox) of
//       x[n, oy*STRIDE + ky - PAD_T, ox*STRIDE + kx - PAD_L, group(co) * CIG + ci] * dz[n, oy, ox, co]
// summed over every output pixel of the batch in a fixed order (the same
// result every run). The register tile is written out in scalars.
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L
//                      CIG COG W_OFF TM TN WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;

const K: u32 = KH * KW * CIG;
const TILES_M: u32 = (K + TM - 1u) / TM;
const TILES_N: u32 = CO / TN;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = invocation(gid, groups);
    if id >= TILES_M * TILES_N {
        return;
    }
    let k0 = (id % TILES_M) * TM;
    let c0 = (id / TILES_M) * TN;
    // The first input channel of the tile's group.
    let g0 = (c0 / COG) * CIG;

    // Each row's tap: its offset from the window's corner, and its channel.
    //% for r in 0..TM
    let tap${r} = min(k0 + ${r}u, K - 1u);
    let tap_y${r} = i32(tap${r} / (KW * CIG)) - i32(PAD_T);
    let tap_x${r} = i32((tap${r} / CIG) % KW) - i32(PAD_L);
    let tap_c${r} = g0 + tap${r} % CIG;
    //% end
    //% for r in 0..TM
    //% for j in 0..TN
    var acc${r}_${j} = 0.0;
    //% end
    //% end

    for (var n = 0u; n < B; n++) {
        for (var oy = 0u; oy < OH; oy++) {
            for (var ox = 0u; ox < OW; ox++) {
                let d_row = ((n * OH + oy) * OW + ox) * CO + c0;
                //% for j in 0..TN
                let d${j} = dz[d_row + ${j}u];
                //% end
                //% for r in 0..TM
                let iy${r} = i32(oy * STRIDE) + tap_y${r};
                let ix${r} = i32(ox * STRIDE) + tap_x${r};
                let in${r} = select(0.0, 1.0, iy${r} >= 0 && iy${r} < i32(IH) && ix${r} >= 0 && ix${r} < i32(IW));
                let a${r} = in${r} * x[((n * IH + u32(clamp(iy${r}, 0, i32(IH) - 1))) * IW + u32(clamp(ix${r}, 0, i32(IW) - 1))) * CI + tap_c${r}];
                //% for j in 0..TN
                acc${r}_${j} = fma(a${r}, d${j}, acc${r}_${j});
                //% end
                //% end
            }
        }
    }

    //% for r in 0..TM
    if k0 + ${r}u < K {
        //% for j in 0..TN
        grads[W_OFF + (k0 + ${r}u) * CO + c0 + ${j}u] = acc${r}_${j};
        //% end
    }
    //% end
}
