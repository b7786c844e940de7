// Gradient of a convolution's kernel (and of a dense layer's weight), with
// the register tile written out: each invocation computes TM kernel taps
// k = (ky, kx, ci) x TN output channels as TM x TN/4 vec4 accumulators,
// summing over every output pixel of the batch in a fixed order (the same
// result every run). Used when CO is a multiple of TN (and TN of 4).
//
// Generated constants: B IH IW CI OH OW CO KH KW STRIDE PAD_T PAD_L W_OFF TM TN TN4 WG

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dz: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> grads: array<vec4<f32>>;

const K: u32 = KH * KW * CI;
const CO4: u32 = CO / 4u;
const TILES_M: u32 = (K + TM - 1u) / TM;
const TILES_N: u32 = CO / TN;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = invocation(gid, groups);
    if id >= TILES_M * TILES_N {
        return;
    }
    let k0 = (id % TILES_M) * TM;
    let c4 = (id / TILES_M) * TN4;

    // Each row's tap: its offset from the window's corner, and its channel.
    //% for r in 0..TM
    let tap${r} = min(k0 + ${r}u, K - 1u);
    let tap_y${r} = i32(tap${r} / (KW * CI)) - i32(PAD_T);
    let tap_x${r} = i32((tap${r} / CI) % KW) - i32(PAD_L);
    let tap_c${r} = tap${r} % CI;
    //% end
    //% for r in 0..TM
    //% for j in 0..TN4
    var acc${r}_${j} = vec4<f32>(0.0);
    //% end
    //% end

    for (var n = 0u; n < B; n++) {
        for (var oy = 0u; oy < OH; oy++) {
            for (var ox = 0u; ox < OW; ox++) {
                let d_row = ((n * OH + oy) * OW + ox) * CO4 + c4;
                //% for j in 0..TN4
                let d${j} = dz[d_row + ${j}u];
                //% end
                //% for r in 0..TM
                let iy${r} = i32(oy * STRIDE) + tap_y${r};
                let ix${r} = i32(ox * STRIDE) + tap_x${r};
                let in${r} = select(0.0, 1.0, iy${r} >= 0 && iy${r} < i32(IH) && ix${r} >= 0 && ix${r} < i32(IW));
                let a${r} = vec4<f32>(in${r} * x[((n * IH + u32(clamp(iy${r}, 0, i32(IH) - 1))) * IW + u32(clamp(ix${r}, 0, i32(IW) - 1))) * CI + tap_c${r}]);
                //% for j in 0..TN4
                acc${r}_${j} = fma(a${r}, d${j}, acc${r}_${j});
                //% end
                //% end
            }
        }
    }

    //% for r in 0..TM
    if k0 + ${r}u < K {
        //% for j in 0..TN4
        grads[W_OFF / 4u + (k0 + ${r}u) * CO4 + c4 + ${j}u] = acc${r}_${j};
        //% end
    }
    //% end
}
