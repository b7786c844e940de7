"""The JAX oracle: holds cnnc's GPU training steps to account.

Usage: jax_oracle.py DIR

For every DIR/NAME.json (the model: layers with their settings) and
DIR/NAME.safetensors (what cnnc did: `params.*` the weights before the first
step; per step t, `input{t}` the batch (NHWC, as cnnc stores it),
`labels{t}`, `grad{t}.*` the gradients and `after{t}.*` the weights after the
step, with PyTorch's names and layouts; `loss` per step), this script
rebuilds the network in JAX with PyTorch's conventions and checks, per step:

- the loss: softmax cross-entropy of the scores, averaged over the batch;
- the gradient of every trainable tensor (jax.grad, float64);
- the step that the optimizer takes from there: Keras's Adam (the JSON's
  `adam`) or Keras's SGD (`sgd`: v = momentum v - lr g; w += v), with the
  oracle's own moments or velocity; for SGD also the weights after the step;
- the batchnorms' running statistics (momentum 0.99, biased variance).

Step t starts from cnnc's weights after step t-1, so errors do not compound,
while the Adam moments and SGD velocity are the oracle's own from the start. Every tensor's
relative L2 error ||cnnc - jax|| / max(||jax||, 1e-6) must be below 1e-3.
Exits 1 naming every tensor that is not.

Only jax and numpy: no torch, flax or optax, so that nothing is shared with
the code under test.
"""

import json
import struct
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

TOLERANCE = 1e-3
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
LEAKY_SLOPE = 0.2


def read_safetensors(path):
    """A safetensors file as {name: float64 or int array}, in PyTorch's shapes."""
    data = Path(path).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    body = data[8 + size :]
    dtypes = {"F32": "<f4", "I32": "<i4", "F64": "<f8", "I64": "<i8"}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=dtypes[info["dtype"]])
        array = array.reshape(info["shape"])
        tensors[name] = array.astype(np.float64) if array.dtype.kind == "f" else array
    return tensors


def group(tensors, prefix):
    """{'conv1.weight': ...} from the tensors named `PREFIX.conv1.weight`."""
    p = prefix + "."
    return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}


def activate(x, name):
    if name == "relu":
        return jnp.where(x > 0, x, 0.0)
    if name == "leaky_relu":
        return jnp.where(x > 0, x, LEAKY_SLOPE * x)
    if name == "sigmoid":
        return jax.nn.sigmoid(x)
    if name == "tanh":
        return jnp.tanh(x)
    if name == "softmax":
        return jax.nn.softmax(x, axis=1)
    if name == "linear":
        return x
    # Keras 3's definitions, as jax.nn writes them: gelu exact (erf),
    # hard_sigmoid relu6(x + 3) / 6, hard_swish x relu6(x + 3) / 6.
    if name == "relu6":
        return jax.nn.relu6(x)
    if name == "gelu":
        return jax.nn.gelu(x, approximate=False)
    if name == "silu":
        return jax.nn.silu(x)
    if name == "elu":
        return jax.nn.elu(x, alpha=1.0)
    if name == "softplus":
        return jax.nn.softplus(x)
    if name == "hard_sigmoid":
        return jax.nn.hard_sigmoid(x)
    if name == "hard_swish":
        return jax.nn.hard_swish(x)
    raise ValueError(f"unknown activation {name}")


def same_pads(size, kernel, stride):
    """TensorFlow's `same`: out = ceil(size / stride), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return [total // 2, total - total // 2]


def conv(x, layer, w, b):
    kh, kw = layer["kernel"]
    s = layer["stride"]
    _, _, h, wd = x.shape
    if layer["padding"] == "same":
        pads = [same_pads(h, kh, s), same_pads(wd, kw, s)]
    else:
        pads = [[0, 0], [0, 0]]
    if pads != layer["pad"]:
        raise AssertionError(f"{layer['name']}: cnnc pads {layer['pad']}, TensorFlow's same pads {pads}")
    y = jax.lax.conv_general_dilated(
        x, w, window_strides=(s, s), padding=[tuple(p) for p in pads],
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        # PyTorch's Conv2d(groups=G): weight [co, ci / G, kh, kw].
        feature_group_count=layer.get("groups", 1),
        precision=jax.lax.Precision.HIGHEST,
    )
    return y + b[None, :, None, None]


def pool(x, layer):
    kh, kw = layer["window"]
    s = layer["stride"]
    dims, strides = (1, 1, kh, kw), (1, 1, s, s)
    if layer["pool"] == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, strides, "VALID")
    return jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, strides, "VALID") / (kh * kw)


def batchnorm(x, name, trainable, state, new_state, training):
    """Training mode: the batch's statistics (variance biased); the running
    ones move toward them with Keras's momentum. Evaluation (PyTorch's
    `model.eval()`): the running statistics, which do not move."""
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    rm, rv = state[name + ".running_mean"], state[name + ".running_var"]
    if training:
        mean = jnp.mean(x, axis=axes)
        var = jnp.mean((x - jnp.expand_dims(mean, axes)) ** 2, axis=axes)
        new_state[name + ".running_mean"] = BN_MOMENTUM * rm + (1 - BN_MOMENTUM) * mean
        new_state[name + ".running_var"] = BN_MOMENTUM * rv + (1 - BN_MOMENTUM) * var
    else:
        mean, var = rm, rv
    gamma, beta = trainable[name + ".weight"], trainable[name + ".bias"]
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    y = (x - mean.reshape(shape)) / jnp.sqrt(var.reshape(shape) + BN_EPSILON)
    return gamma.reshape(shape) * y + beta.reshape(shape)


def forward(desc, trainable, state, x, training=True):
    """The scores (the last layer's output with its activation, except a
    final softmax, which is the loss's own) and the updated running stats.
    `training=False` is evaluation: running statistics, dropout off."""
    new_state = {}
    layers = desc["layers"]
    image, outputs = x, []
    # Each layer reads the tensors it names: None is the model's input.
    value = lambda j: image if j is None else outputs[j]
    for i, layer in enumerate(layers):
        kind, name = layer["kind"], layer["name"]
        x = value(layer["inputs"][0])
        if kind == "add":
            x = sum(value(j) for j in layer["inputs"])
        elif kind == "concat":
            # torch.cat(dim=1): channels of images (NCHW), or vectors end to end.
            x = jnp.concatenate([value(j) for j in layer["inputs"]], axis=1)
        elif kind == "globalpool":
            # AdaptiveAvgPool2d(1) / AdaptiveMaxPool2d(1), then flatten.
            reduce = jnp.max if layer["pool"] == "max" else jnp.mean
            x = reduce(x, axis=(2, 3))
        elif kind == "conv":
            x = conv(x, layer, trainable[name + ".weight"], trainable[name + ".bias"])
        elif kind == "dense":
            x = jnp.matmul(x, trainable[name + ".weight"].T, precision=jax.lax.Precision.HIGHEST)
            x = x + trainable[name + ".bias"]
        elif kind == "pool":
            x = pool(x, layer)
        elif kind == "pad":
            # ZeroPad2d / ZeroPadding2D: zeros above and below, left and right.
            ph, pw = layer["pad"]
            x = jnp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)  # NCHW: channel, row, column, as nn.Flatten
        elif kind == "batchnorm":
            x = batchnorm(x, name, trainable, state, new_state, training)
        elif kind == "dropout":
            if training:
                # cnnc's masks come from its own hash; a step of a model
                # with dropout is not something this oracle can redo.
                raise ValueError(f"{name}: the oracle models dropout in evaluation only")
        elif kind != "activation":
            raise ValueError(f"{name}: the oracle does not model `{kind}`")
        expected = tuple(layer["output"][2:] + layer["output"][:2]) if x.ndim == 4 else tuple(layer["output"])
        if tuple(x.shape[1:]) != expected:
            raise AssertionError(f"{name}: JAX's shape {x.shape[1:]}, cnnc's {layer['output']} (HWC)")
        last = i + 1 == len(layers)
        if not (last and layer["activation"] == "softmax"):
            x = activate(x, layer["activation"])
        outputs.append(x)
    return x, new_state


def loss_fn(desc, trainable, state, x, labels):
    scores, new_state = forward(desc, trainable, state, x)
    logp = jax.nn.log_softmax(scores, axis=1)
    loss = -jnp.mean(logp[jnp.arange(labels.shape[0]), labels])
    return loss, new_state


def rel_error(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-6))


class Report:
    """The table of every comparison, and the failures among them."""

    def __init__(self):
        self.rows = []

    def exact(self, model, step, what, tensor, cnnc, jax_value, note=""):
        """A count, a list or a rate that must be identical."""
        ok = cnnc == jax_value
        verdict = "ok (identical)" if ok else f"FAIL: cnnc {cnnc}, JAX {jax_value}{note}"
        self.rows.append((model, step, what, tensor, float("nan"), float("nan"), verdict))

    def check(self, model, step, what, tensor, cnnc, jax_value, zero_ok=None, tolerance=TOLERANCE, rounding=None):
        """`rounding`: per element, how far f32 alone may move cnnc's value
        (a step read as the difference of two f32 weights is known only to
        an ulp of the weight); only the excess counts."""
        cnnc, jax_value = np.asarray(cnnc, np.float64), np.asarray(jax_value, np.float64)
        if cnnc.shape != jax_value.shape:
            self.rows.append((model, step, what, tensor, float("nan"), float("inf"),
                              f"FAIL: shape {cnnc.shape} vs {jax_value.shape}"))
            return
        norm = float(np.linalg.norm(jax_value))
        err = rel_error(cnnc, jax_value)
        if zero_ok is not None and norm < 1e-10:
            # Zero in exact arithmetic (the bias of a layer that a batchnorm
            # follows): cnnc's f32 leaves rounding noise, which must stay
            # within `zero_ok` (an absolute bound per element).
            worst = float(np.max(np.abs(cnnc))) if cnnc.size else 0.0
            ok = worst <= zero_ok
            verdict = f"{'ok' if ok else 'FAIL'} (JAX: 0; cnnc: max |x| {worst:.1e}, at most {zero_ok:.0e})"
            self.rows.append((model, step, what, tensor, norm, float("nan"), verdict))
            return
        verdict = "ok" if err < tolerance else "FAIL"
        if rounding is not None:
            excess = np.maximum(np.abs(cnnc - jax_value) - rounding, 0.0)
            raw, err = err, float(np.linalg.norm(excess) / max(norm, 1e-6))
            verdict = f"{'ok' if err < tolerance else 'FAIL'} (raw {raw:.1e}; less f32 slack)"
        self.rows.append((model, step, what, tensor, norm, err, verdict))

    def print(self):
        header = ("model", "step", "check", "tensor", "|jax|", "rel err", "")
        widths = [max(len(str(r[i])) if i not in (4, 5) else 9 for r in self.rows + [header]) for i in range(7)]
        line = "  ".join(f"{{:<{w}}}" for w in widths[:4]) + "  {:>9}  {:>9}  {}"
        print(line.format(*header))
        for r in self.rows:
            err = "-" if np.isnan(r[5]) else f"{r[5]:.2e}"
            print(line.format(r[0], r[1], r[2], r[3], f"{r[4]:.3e}", err, r[6]))
        worst = {}
        for r in self.rows:
            if r[6].split(" (raw")[0] in ("ok", "FAIL"):
                worst[r[2]] = max(worst.get(r[2], 0.0), r[5])
        print("worst relative errors: " + ", ".join(f"{k} {v:.2e}" for k, v in sorted(worst.items())))

    def failures(self):
        return [r for r in self.rows if r[6].startswith("FAIL")]


class Adam:
    """Keras's Adam, with the oracle's own moments."""

    check = "adam step"

    def __init__(self, spec, names, like):
        self.lr, self.b1, self.b2, self.eps = spec["lr"], spec["beta1"], spec["beta2"], spec["epsilon"]
        self.m = {k: np.zeros_like(like[k]) for k in names}
        self.v = {k: np.zeros_like(like[k]) for k in names}
        # An Adam step is at most about lr per element, noise or not.
        self.zero_ok = 1.1 * self.lr

    def step(self, t, k, g):
        b1, b2 = self.b1, self.b2
        alpha = self.lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        self.m[k] = b1 * self.m[k] + (1 - b1) * g
        self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
        return -alpha * self.m[k] / (np.sqrt(self.v[k]) + self.eps)


class Sgd:
    """Keras's SGD: v = momentum v - lr g; w += v (the oracle's own v)."""

    check = "sgd step"

    def __init__(self, spec, names, like):
        self.lr, self.momentum = spec["lr"], spec["momentum"]
        self.velocity = {k: np.zeros_like(like[k]) for k in names}
        # Gradients that are zero in exact arithmetic stay below 1e-5.
        self.zero_ok = 1e-5 * self.lr + 1e-7

    def step(self, t, k, g):
        self.velocity[k] = self.momentum * self.velocity[k] - self.lr * g
        return self.velocity[k]


def optimizer(desc, names, like):
    if "adam" in desc:
        return Adam(desc["adam"], names, like)
    return Sgd(desc["sgd"], names, like)


def check_model(desc, tensors, report):
    name = desc["name_in_dir"]
    before = group(tensors, "params")
    trainable_names = [k for k in before if not k.endswith((".running_mean", ".running_var"))]
    state_names = [k for k in before if k not in trainable_names]
    opt = optimizer(desc, trainable_names, before)
    grad_fn = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)
    for t in range(1, desc["steps"] + 1):
        x = jnp.asarray(tensors[f"input{t}"]).transpose(0, 3, 1, 2)  # NHWC -> NCHW
        labels = jnp.asarray(tensors[f"labels{t}"])
        trainable = {k: jnp.asarray(before[k]) for k in trainable_names}
        state = {k: jnp.asarray(before[k]) for k in state_names}
        (loss, new_state), grads = grad_fn(desc, trainable, state, x, labels)
        report.check(name, t, "loss", "-", tensors["loss"][t - 1], float(loss))
        got_grads, after = group(tensors, f"grad{t}"), group(tensors, f"after{t}")
        for k in trainable_names:
            g = np.asarray(grads[k])
            report.check(name, t, "gradient", k, got_grads[k], g, zero_ok=1e-5)
            step = opt.step(t, k, g)
            # Adam's steps are large enough for the ulps of the weights not
            # to matter; a small SGD step on large weights is not.
            ulp = np.spacing(np.abs(after[k]).astype(np.float32)).astype(np.float64)
            rounding = ulp if isinstance(opt, Sgd) else None
            report.check(name, t, opt.check, k, after[k] - before[k], step, zero_ok=opt.zero_ok, rounding=rounding)
            if isinstance(opt, Sgd):
                # A tensor that is zero in exact arithmetic (a bias before a
                # batchnorm) holds f32 noise: allow the steps' noise bound.
                report.check(name, t, "weights after", k, after[k], before[k] + step, rounding=opt.zero_ok)
        for k in state_names:
            report.check(name, t, "running stat", k, after[k] - before[k], np.asarray(new_state[k]) - before[k])
        before = after


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: jax_oracle.py DIR")
    directory = Path(sys.argv[1])
    report = Report()
    models = sorted(directory.glob("*.json"))
    if not models:
        sys.exit(f"{directory}: no models")
    for path in models:
        desc = json.loads(path.read_text())
        desc["name_in_dir"] = path.stem
        check_model(desc, read_safetensors(path.with_suffix(".safetensors")), report)
    report.print()
    failures = report.failures()
    for r in failures:
        err = "" if np.isnan(r[5]) else f": relative error {r[5]:.3e}"
        print(f"FAIL {r[0]} step {r[1]}: {r[2]} of {r[3]}{err}{r[6][4:]}")
    print(f"jax {jax.__version__}: {len(models)} models, {len(report.rows)} tensors, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
