// The page around model.js: draw a digit (a 28x28x1 model) or drop an
// image, see the top classes, the time, and the model's summary.
import { load, WebGPUUnavailable } from "./model.js";
import { mnistPixels, modelPixels } from "./pixels.js";

const $ = (id) => document.getElementById(id);
const TOP = 5;
let adapterName = "WebGPU";

main().catch(showError);

async function main() {
  const summary = await fetch("summary.json").then((r) => r.json()).catch(() => null);
  if (summary) showSummary(summary);
  const model = await load(".");
  const info = model.adapter ?? {};
  adapterName = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") || "WebGPU";
  const [h, w, c] = model.inputShape;
  document.title = `${model.name}: cnnc in the browser`;
  $("model-name").textContent = model.name;
  $("shape").textContent = `${h}x${w}x${c}`;
  const digits = h === 28 && w === 28 && c === 1;
  $("draw").hidden = !digits;
  $("resize-note").textContent =
    `Images are resized to ${h}x${w} (bilinear, as cnnc predict resizes them)` +
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
      try {
        const pixels = mnistPixels(ctx.getImageData(0, 0, canvas.width, canvas.height));
        if (pixels) await predict(pixels);
      } catch (e) {
        showError(e);
      } finally {
        // A failed prediction must not stop the next stroke from predicting.
        pending = false;
      }
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

// ---- images: resized and converted as `cnnc predict` does -----------------

function setUpImages(predict, h, w, c) {
  const use = async (file) => {
    if (!file) return;
    try {
      // The image crate that `cnnc predict` decodes with applies no colour
      // profile and keeps alpha apart, so neither may the browser.
      const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
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
  $("time").textContent = `inference: ${ms.toFixed(1)} ms on ${adapterName}`;
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
