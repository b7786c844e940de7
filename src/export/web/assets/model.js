// A model exported by `cnnc export --web`: runs the WGSL kernels that cnnc
// generated for it on WebGPU, as `cnnc predict` runs them natively. This
// file knows nothing of layers: model.json lists the buffers, the kernels in
// dispatch order with their bindings and workgroup counts, where the input
// goes and where the probabilities are read.
//
//   import { load } from "./model.js";
//   const model = await load();            // the folder model.js is in
//   const probabilities = await model.predict(pixels);
//
// `pixels` is a Float32Array of H*W*C values in [0, 1], row by row, each
// pixel's channels together; `predict` resolves to a Float32Array of class
// probabilities (softmax of the scores), in the order of `model.classes`.

const FORMAT = "cnnc-web/1";

/** Loads the export in `base` (a folder URL, relative to this file). */
export async function load(base = ".") {
  const folder = new URL(base.endsWith("/") ? base : base + "/", import.meta.url);
  if (!globalThis.navigator?.gpu) {
    throw new WebGPUUnavailable("this browser has no WebGPU (navigator.gpu is missing)");
  }
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    throw new WebGPUUnavailable("WebGPU is there, but the browser gave no GPU adapter");
  }
  const manifest = await fetchOk(new URL("model.json", folder)).then((r) => r.json());
  if (manifest.format !== FORMAT) {
    throw new Error(`model.json is ${manifest.format}, this model.js reads ${FORMAT}`);
  }
  const device = await adapter.requestDevice({ requiredLimits: neededLimits(adapter, manifest) });
  device.addEventListener?.("uncapturederror", (e) => console.error("WebGPU:", e.error.message));

  let buffers, kernels;
  try {
    device.pushErrorScope("validation");
    buffers = createBuffers(device, manifest);
    const weights = await fetchOk(new URL(manifest.weights.file, folder)).then((r) => r.arrayBuffer());
    if (weights.byteLength !== manifest.weights.bytes) {
      throw new Error(`${manifest.weights.file} has ${weights.byteLength} bytes, model.json says ${manifest.weights.bytes}`);
    }
    device.queue.writeBuffer(buffers.get(manifest.weights.buffer), 0, weights);
    kernels = await createKernels(device, manifest, buffers, folder);
    const error = await device.popErrorScope();
    if (error) throw new Error(`WebGPU rejected the model: ${error.message}`);
  } catch (e) {
    // A page may call load() again: leave no device (and its buffers) behind.
    device.destroy();
    throw e;
  }

  const [h, w, c] = manifest.input.shape;
  const count = manifest.probabilities.count;
  const input = buffers.get(manifest.input.buffer);
  const probabilities = buffers.get(manifest.probabilities.buffer);
  const readback = device.createBuffer({
    size: 4 * count,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  // One prediction at a time: they share the input and readback buffers.
  let queue = Promise.resolve();

  async function run(pixels) {
    device.queue.writeBuffer(input, 0, pixels.buffer, pixels.byteOffset, pixels.byteLength);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const k of kernels) {
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, k.bindGroup);
      pass.dispatchWorkgroups(...k.workgroups);
    }
    pass.end();
    encoder.copyBufferToBuffer(probabilities, 0, readback, 0, 4 * count);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(readback.getMappedRange().slice(0));
    readback.unmap();
    return out;
  }

  return {
    name: manifest.model,
    inputShape: [h, w, c],
    classes: manifest.classes,
    device,
    /** GPUAdapterInfo: vendor, architecture, description (may be empty). */
    adapter: adapter.info,
    /** Class probabilities of one image: `pixels` as described above. */
    predict(pixels) {
      if (!(pixels instanceof Float32Array) || pixels.length !== h * w * c) {
        return Promise.reject(new TypeError(
          `predict wants a Float32Array of ${h}x${w}x${c} = ${h * w * c} values`));
      }
      const result = queue.then(() => run(pixels));
      queue = result.catch(() => {});
      return result;
    },
  };
}

/** The browser cannot run WebGPU: the page says so instead of failing. */
export class WebGPUUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = "WebGPUUnavailable";
  }
}

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return response;
}

// WebGPU's defaults suit small models; a bigger one needs more, which the
// adapter grants up to its own limits: ask for those.
function neededLimits(adapter, manifest) {
  const largest = Math.max(...manifest.buffers.map((b) => b.bytes));
  const storage = Math.max(...manifest.kernels.map(
    (k) => k.bindings.filter((b) => b.type !== "uniform").length));
  const groups = Math.max(...manifest.kernels.flatMap((k) => k.workgroups));
  const want = {
    maxBufferSize: largest,
    maxStorageBufferBindingSize: largest,
    maxStorageBuffersPerShaderStage: storage,
    maxComputeWorkgroupsPerDimension: groups,
  };
  const limits = {};
  for (const [name, value] of Object.entries(want)) {
    const available = adapter.limits[name];
    if (value > available) {
      throw new Error(`the model needs ${name} ${value}; this GPU allows ${available}`);
    }
    limits[name] = available;
  }
  return limits;
}

function createBuffers(device, manifest) {
  const buffers = new Map();
  for (const b of manifest.buffers) {
    // WebGPU binds no empty buffer, and copies whole words.
    const size = Math.max(4, Math.ceil(b.bytes / 4) * 4);
    const usage = b.usage === "uniform"
      ? GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST
      : GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buffer = device.createBuffer({ label: b.name, size, usage });
    if (b.init_u32) device.queue.writeBuffer(buffer, 0, new Uint32Array(b.init_u32));
    buffers.set(b.name, buffer);
  }
  return buffers;
}

// One shader module per file (shared if kernels share one), each checked for compilation errors; one
// pipeline per kernel with an explicit layout (as cnnc's runtime makes it).
async function createKernels(device, manifest, buffers, folder) {
  const modules = new Map();
  for (const file of new Set(manifest.kernels.map((k) => k.file))) {
    const code = await fetchOk(new URL(file, folder)).then((r) => r.text());
    const module = device.createShaderModule({ label: file, code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length) {
      throw new Error(`${file} does not compile here:\n` +
        errors.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`).join("\n"));
    }
    modules.set(file, module);
  }
  return Promise.all(manifest.kernels.map(async (k) => {
    const layout = device.createBindGroupLayout({
      label: k.name,
      entries: k.bindings.map((b, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.type },
      })),
    });
    const pipeline = await device.createComputePipelineAsync({
      label: k.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: modules.get(k.file), entryPoint: k.entry_point },
    });
    const bindGroup = device.createBindGroup({
      label: k.name,
      layout,
      entries: k.bindings.map((b, i) => ({ binding: i, resource: { buffer: buffers.get(b.buffer) } })),
    });
    return { pipeline, bindGroup, workgroups: k.workgroups };
  }));
}
