// What the model is given: a drawn digit made as MNIST's were, and an
// image resized and converted as `cnnc predict` does it. Both return a
// Float32Array for `model.predict` (values in [0, 1], row, column, channel).

// As MNIST's digits were made: the ink's bounding box scaled (area
// average) to fit 20x20, keeping its aspect, then placed in 28x28 with its
// centre of mass at the centre. Null when nothing is drawn.
export function mnistPixels(image) {
  const { width, height, data } = image;
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[4 * (y * width + x)] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const [bw, bh] = [x1 - x0 + 1, y1 - y0 + 1];
  const scale = 20 / Math.max(bw, bh);
  const [tw, th] = [Math.max(1, Math.round(bw * scale)), Math.max(1, Math.round(bh * scale))];
  const sum = new Float64Array(tw * th);
  const count = new Float64Array(tw * th);
  for (let y = y0; y <= y1; y++) {
    const ty = Math.min(th - 1, Math.floor((y - y0) * th / bh));
    for (let x = x0; x <= x1; x++) {
      const tx = Math.min(tw - 1, Math.floor((x - x0) * tw / bw));
      sum[ty * tw + tx] += data[4 * (y * width + x)];
      count[ty * tw + tx] += 1;
    }
  }
  let [mass, mx, my] = [0, 0, 0];
  for (let i = 0; i < tw * th; i++) {
    const v = sum[i] / count[i];
    mass += v; mx += v * (i % tw + 0.5); my += v * (Math.floor(i / tw) + 0.5);
  }
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
  const ox = clamp(Math.round(14 - mx / mass), 28 - tw);
  const oy = clamp(Math.round(14 - my / mass), 28 - th);
  const pixels = new Float32Array(28 * 28);
  for (let i = 0; i < tw * th; i++) {
    pixels[(oy + Math.floor(i / tw)) * 28 + ox + i % tw] = sum[i] / count[i] / 255;
  }
  return pixels;
}

// The image crate's `resize_exact(.., Triangle)` (rows, then columns, each
// output a triangle-weighted mean over a support widened by the scale,
// rounded to bytes), then its luma for one channel, scaled to [0, 1].
export function modelPixels({ width, height, data }, h, w, c) {
  let rgb = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) rgb[3 * i + k] = data[4 * i + k];
  }
  if (width !== w || height !== h) {
    rgb = resample(rgb, width, height, height, h, false);
    rgb = resample(rgb, width, h, width, w, true);
  }
  const pixels = new Float32Array(h * w * c);
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
    if (c === 1) pixels[i] = luma(r, g, b) / 255;
    else for (let k = 0; k < c; k++) pixels[c * i + k] = [r, g, b][k % 3] / 255;
  }
  return pixels;
}

// The image crate's (0.25.10) sRGB to greyscale, in f32: Rec. 709 weights
// of the channels scaled to [0, 1], summed, rounded back to a byte.
function luma(r, g, b) {
  const f = Math.fround;
  const scale = f(1 / 255);
  let sum = 0;
  for (const [v, k] of [[r, 0.2126], [g, 0.7152], [b, 0.0722]]) sum = f(f(f(v * scale) * f(k)) + sum);
  return Math.min(Math.max(Math.round(f(sum * 255)), 0), 255);
}

// One pass of the triangle filter along y (or x with `horizontal`), from
// `size` to `size2` samples; the horizontal pass rounds to bytes. Every
// step is rounded to f32 (`f`) as the image crate computes it in f32, so
// that the bytes are the same as `cnnc predict`'s.
function resample(src, width, height, size, size2, horizontal) {
  const f = Math.fround;
  const [ow, oh] = horizontal ? [size2, height] : [width, size2];
  const out = new Float32Array(ow * oh * 3);
  const ratio = f(size / size2);
  const sratio = ratio < 1 ? 1 : ratio;
  for (let o = 0; o < size2; o++) {
    const centre = f((o + 0.5) * ratio);
    const left = Math.min(Math.max(Math.floor(f(centre - sratio)), 0), size - 1);
    const right = Math.min(Math.max(Math.ceil(f(centre + sratio)), left + 1), size);
    const from = f(centre - 0.5);
    const weights = [];
    let total = 0;
    for (let i = left; i < right; i++) {
      const x = Math.abs(f(f(i - from) / sratio));
      weights.push(x < 1 ? f(1 - x) : 0);
      total = f(total + weights[weights.length - 1]);
    }
    for (let j = 0; j < weights.length; j++) weights[j] = f(weights[j] / total);
    const across = horizontal ? height : width;
    for (let a = 0; a < across; a++) {
      for (let k = 0; k < 3; k++) {
        let t = 0;
        for (let j = 0; j < weights.length; j++) {
          const i = left + j;
          const at = horizontal ? a * width + i : i * width + a;
          t = f(t + f(src[3 * at + k] * weights[j]));
        }
        const to = horizontal ? a * ow + o : o * ow + a;
        out[3 * to + k] = horizontal ? Math.round(Math.min(Math.max(t, 0), 255)) : t;
      }
    }
  }
  return out;
}
