// The page around model.js: draw a digit (a 28x28x1 model) or drop an
// image, see the top classes, the time, and the model's summary.
import { load, WebGPUUnavailable } from "./model.js";

const $ = (id) => document.getElementById(id);
const TOP = 5;

main().catch(showError);

async function main() {
  const summary = await fetch("summary.json").then((r) => r.json()).catch(() => null);
  if (summary) showSummary(summary);
  const model = await load(".");
  const [h, w, c] = model.inputShape;
  document.title = `${model.name}: cnnc in the browser`;
  $("model-name").textContent = model.name;
  $("shape").textContent = `${h}x${w}x${c}`;
  const digits = h === 28 && w === 28 && c === 1;
  $("draw").hidden = !digits;
  $("resize-note").textContent =
    `Images are resized to ${h}x${w} (bilinear, as \`cnnc predict\` resizes them)` +
    (c === 1 ? " and converted to greyscale." : ", colours kept.");
  const predict = async (pixels) => {
    showInput(pixels, h, w, c);
    const started = performance.now();
    const probabilities = await model.predict(pixels);
    showPrediction(model.classes, probabilities, performance.now() - started);
  };
  if (digits) setUpDrawing(predict);
  setUpImages(predict, h, w, c);
  $("status").textContent = digits ? "Draw a digit." : "Choose or drop an image.";
  window.cnncModel = model; // for the console, and for tests that drive the page
}

// ---- drawing: MNIST's preprocessing of a white-on-black stroke -----------

function setUpDrawing(predict) {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const clear = () => {
    ctx.fillStyle = "black";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  let last = null;
  let pending = false;
  const update = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(async () => {
      const pixels = mnistPixels(ctx.getImageData(0, 0, canvas.width, canvas.height));
      if (pixels) await predict(pixels);
      pending = false;
    });
  };
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    stroke(ctx, last, last);
    update();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!last) return;
    const next = at(e);
    stroke(ctx, last, next);
    last = next;
    update();
  });
  for (const end of ["pointerup", "pointercancel"]) canvas.addEventListener(end, () => { last = null; });
  $("clear").addEventListener("click", () => {
    clear();
    $("top").replaceChildren();
    $("time").textContent = "";
    $("status").textContent = "Draw a digit.";
    showInput(new Float32Array(28 * 28), 28, 28, 1);
  });
}

function stroke(ctx, [x0, y0], [x1, y1]) {
  ctx.strokeStyle = "white";
  ctx.lineWidth = ctx.canvas.width / 14;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

// As MNIST's digits were made: the ink's bounding box scaled (area
// average) to fit 20x20, keeping its aspect, then placed in 28x28 with its
// centre of mass at the centre. Null when nothing is drawn.
function mnistPixels(image) {
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

// ---- images: resized and converted as `cnnc predict` does -----------------

function setUpImages(predict, h, w, c) {
  const use = async (file) => {
    if (!file) return;
    try {
      const bitmap = await createImageBitmap(file);
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext("2d");
      ctx.drawImage(bitmap, 0, 0);
      const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      $("status").textContent = `${file.name}: ${bitmap.height}x${bitmap.width}` +
        (bitmap.height !== h || bitmap.width !== w ? `, resized to ${h}x${w}` : "");
      await predict(modelPixels(rgba, h, w, c));
    } catch (e) {
      showError(e);
    }
  };
  $("file").addEventListener("change", (e) => use(e.target.files[0]));
  const zone = $("drop");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    use(e.dataTransfer.files[0]);
  });
}

// The image crate's `resize_exact(.., Triangle)` (rows, then columns, each
// output a triangle-weighted mean over a support widened by the scale,
// rounded to bytes), then Rec. 709 luma for one channel, scaled to [0, 1].
function modelPixels({ width, height, data }, h, w, c) {
  let rgb = new Float64Array(width * height * 3);
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
    if (c === 1) pixels[i] = Math.floor((2126 * r + 7152 * g + 722 * b) / 10000) / 255;
    else for (let k = 0; k < c; k++) pixels[c * i + k] = [r, g, b][k % 3] / 255;
  }
  return pixels;
}

// One pass of the triangle filter along y (or x with `horizontal`), from
// `size` to `size2` samples; the horizontal pass rounds to bytes.
function resample(src, width, height, size, size2, horizontal) {
  const [ow, oh] = horizontal ? [size2, height] : [width, size2];
  const out = new Float64Array(ow * oh * 3);
  const ratio = size / size2;
  const sratio = Math.max(ratio, 1);
  for (let o = 0; o < size2; o++) {
    const centre = (o + 0.5) * ratio;
    const left = Math.min(Math.max(Math.floor(centre - sratio), 0), size - 1);
    const right = Math.min(Math.max(Math.ceil(centre + sratio), left + 1), size);
    const weights = [];
    let total = 0;
    for (let i = left; i < right; i++) {
      const x = Math.abs((i - (centre - 0.5)) / sratio);
      weights.push(x < 1 ? 1 - x : 0);
      total += weights[weights.length - 1];
    }
    const across = horizontal ? height : width;
    for (let a = 0; a < across; a++) {
      for (let k = 0; k < 3; k++) {
        let t = 0;
        for (let j = 0; j < weights.length; j++) {
          const i = left + j;
          const at = horizontal ? a * width + i : i * width + a;
          t += src[3 * at + k] * weights[j] / total;
        }
        const to = horizontal ? a * ow + o : o * ow + a;
        out[3 * to + k] = horizontal ? Math.round(Math.min(Math.max(t, 0), 255)) : t;
      }
    }
  }
  return out;
}

// ---- showing --------------------------------------------------------------

function showInput(pixels, h, w, c) {
  const canvas = $("seen");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) image.data[4 * i + k] = 255 * pixels[c * i + (c === 1 ? 0 : k)];
    image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

function showPrediction(classes, probabilities, ms) {
  const ranked = [...probabilities].map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, TOP);
  $("top").replaceChildren(...ranked.map(([p, i], rank) => {
    const row = document.createElement("li");
    if (rank === 0) row.className = "first";
    const name = document.createElement("span");
    name.className = "class";
    name.textContent = classes[i] ?? String(i);
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = `${(100 * p).toFixed(1)}%`;
    row.append(name, bar, value);
    return row;
  }));
  $("time").textContent = `inference: ${ms.toFixed(1)} ms`;
  $("status").textContent = "";
}

function showSummary(s) {
  const fmt = (n) => n.toLocaleString("en-US");
  const graph = s.layers.some((l, i) => l.inputs.length !== 1 || l.inputs[0] !== (i ? s.layers[i - 1].name : "input"));
  const head = ["Layer", "Type", "Output shape", "Params", "FLOPs"].concat(graph ? ["Connected to"] : []);
  const rows = s.layers.map((l) => [
    l.name, l.description, l.output_shape.join("x"), fmt(l.params), fmt(l.flops),
  ].concat(graph ? [l.inputs.join(", ")] : []));
  const table = $("summary");
  const tr = (cells, tag) => {
    const row = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement(tag);
      td.textContent = cell;
      row.append(td);
    }
    return row;
  };
  table.replaceChildren(tr(head, "th"), ...rows.map((r) => tr(r, "td")));
  $("totals").textContent =
    `${fmt(s.total_params)} parameters (${fmt(s.trainable_params)} trainable), ` +
    `${(s.total_flops / 1e6).toFixed(1)} M FLOPs per image, ` +
    `${(s.weight_bytes / 1024).toFixed(0)} KiB of weights.`;
}

function showError(e) {
  console.error(e);
  const box = $("error");
  box.hidden = false;
  if (e instanceof WebGPUUnavailable) {
    $("error-title").textContent = "This browser cannot run the model: it has no WebGPU.";
    $("error-text").textContent = `${e.message}. The model runs on WebGPU, in Chrome and Edge 113 or later ` +
      "(on Linux, enable chrome://flags/#enable-unsafe-webgpu), Safari 26 and Firefox 141 on Windows; " +
      "the page must come from https:// or from localhost (cnnc serve DIR).";
  } else {
    $("error-title").textContent = "Something went wrong.";
    $("error-text").textContent = String(e.message ?? e);
  }
  $("status").textContent = "";
}
