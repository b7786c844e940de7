"""The JAX oracle for trained models: holds `cnnc eval` and an SGD step from
saved weights to account.

Usage: jax_eval.py DIR

For every DIR/NAME.json (the layers, as for jax_oracle.py, plus `eval`:
the weights file that `cnnc train` wrote, the image folder's train and test
directories, the input shape, what `cnnc eval --json` printed and the last
row of the run's metrics.csv), this script

- reads the weights file itself (PyTorch's names and layouts),
- decodes the test split's PNGs itself (class folders sorted by name, as
  labels; pixels scaled to [0, 1]),
- runs the network in evaluation mode (PyTorch's `model.eval()`: batchnorm
  with its running statistics, dropout off), and
- checks the loss (softmax cross-entropy of the scores, averaged; relative
  error below 1e-4), the accuracy and the confusion matrix (identical) and
  the sample count against `cnnc eval`, and the loss and accuracy against the
  validation of the run's last epoch (metrics.csv, 6 decimals).

Where DIR/NAME.safetensors exists, it holds SGD steps that cnnc took from
those weights on the GPU, exported as jax_oracle.py reads them; they are
checked as it checks them, and their starting weights (the library's
reading of the file) against the file itself.

Exits 1 naming every check that fails.
"""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jax_oracle import Report, check_model, forward, group, read_safetensors
from png import read_split

EVAL_TOLERANCE = 1e-4


def evaluate(desc, weights, x, labels):
    """Loss, predictions and the smallest gap between the two best scores."""
    trainable = {k: jnp.asarray(v) for k, v in weights.items() if not k.endswith(("running_mean", "running_var"))}
    state = {k: jnp.asarray(v) for k, v in weights.items() if k not in trainable}
    scores, _ = forward(desc, trainable, state, jnp.asarray(x).transpose(0, 3, 1, 2), training=False)
    scores = np.asarray(scores)
    logp = np.asarray(jax.nn.log_softmax(scores, axis=1))
    loss = -float(np.mean(logp[np.arange(len(labels)), labels]))
    top2 = np.sort(scores, axis=1)[:, -2:]
    return loss, np.argmax(scores, axis=1), float(np.min(top2[:, 1] - top2[:, 0]))


def check_eval(desc, report):
    name, ev = desc["name_in_dir"], desc["eval"]
    weights = read_safetensors(ev["weights"])
    h, w, c = desc["input"]
    x, labels = read_split(ev["test"], ev["train"], c)
    if x.shape[1:3] != (h, w):
        raise ValueError(f"{name}: images are {x.shape[1:3]}, the model takes {h}x{w}")
    loss, predicted, gap = evaluate(desc, weights, x, labels)
    classes = len(ev["cnnc"]["confusion"])
    confusion = np.zeros((classes, classes), dtype=int)
    for label, p in zip(labels, predicted):
        confusion[label, p] += 1
    accuracy = float(np.mean(predicted == labels))
    cnnc = ev["cnnc"]
    report.check(name, "eval", "eval loss", "-", cnnc["loss"], loss, tolerance=EVAL_TOLERANCE)
    report.exact(name, "eval", "eval samples", "-", cnnc["samples"], len(labels))
    note = f" (closest top-2 scores: {gap:.1e} apart)"
    report.exact(name, "eval", "eval accuracy", "-", cnnc["accuracy"], accuracy, note)
    report.exact(name, "eval", "confusion", "-", cnnc["confusion"], confusion.tolist(), note)
    # The run's last validation, on the GPU's own weights before they were
    # saved: the file is the trained model. metrics.csv rounds to 6 places.
    m = ev["metrics"]
    report.check(name, "eval", "val loss (csv)", "-", m["val_loss"], loss,
                 tolerance=EVAL_TOLERANCE + 5e-7 / max(loss, 1e-6))
    report.exact(name, "eval", "val accuracy (csv)", "-", m["val_accuracy"], round(accuracy, 6), note)
    return weights


def check_saved_weights(name, tensors, weights, report):
    """The library's reading of the file (the SGD steps' start) is the file."""
    params = group(tensors, "params")
    report.exact(name, 0, "saved weights", "names", sorted(params), sorted(weights))
    for k in sorted(set(params) & set(weights)):
        report.check(name, 0, "saved weights", k, params[k], weights[k], tolerance=1e-7)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: jax_eval.py DIR")
    directory = Path(sys.argv[1])
    report = Report()
    models = sorted(directory.glob("*.json"))
    if not models:
        sys.exit(f"{directory}: no models")
    for path in models:
        desc = json.loads(path.read_text())
        desc["name_in_dir"] = path.stem
        weights = check_eval(desc, report)
        steps = path.with_suffix(".safetensors")
        if steps.exists():
            tensors = read_safetensors(steps)
            check_saved_weights(path.stem, tensors, weights, report)
            check_model(desc, tensors, report)
    report.print()
    failures = report.failures()
    for r in failures:
        err = "" if np.isnan(r[5]) else f": relative error {r[5]:.3e}"
        print(f"FAIL {r[0]} step {r[1]}: {r[2]} of {r[3]}{err}{r[6][4:]}")
    print(f"jax {jax.__version__}: {len(models)} models, {len(report.rows)} checks, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
