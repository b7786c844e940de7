"""The ONNX oracle: onnxruntime, an independent runtime, runs the files
that `cnnc export --onnx` wrote and must give cnnc's probabilities.

Usage: onnx_check.py DIR

DIR/cases.json lists models, each with
- `onnx`: the exported file;
- `classes`, `input` ([H, W, C]);
- `predict`: PNG files and the probabilities `cnnc predict --json` gave
  for them (all classes, in class order);
- `eval`: an image folder's `train` and `test` directories and what
  `cnnc eval --json` said of its test split (loss, accuracy, samples),
  and the `l2 F` factor of each layer that has one (cnnc's loss adds
  F * sum(w^2) of that layer's kernel, here read from the file's
  `LAYER.weight` initializer).

For each, this script checks the file with `onnx.checker.check_model`
(full check: shape inference too), its opset (17 or later), its input
`input` [N, C, H, W] float32 with a symbolic N and its output
`probabilities` [N, classes]; decodes the PNGs itself (tests/oracle/png.py,
pixels / 255 as cnnc scales them, NCHW); runs the file in onnxruntime on
the CPU, the predict images as one batch and the eval split as another
(so the batch size varies), and compares every probability with cnnc's
(absolute difference at most 1e-4), and the eval split's mean
cross-entropy (relative difference at most 1e-4), accuracy and sample
count with `cnnc eval`'s.

Prints one line per model, `ok` or `FAIL` with what differs; exits 1 if
any failed.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort

from png import read_png, read_split

TOLERANCE = 1e-4


def dims(value):
    return [d.dim_param if d.dim_param else d.dim_value for d in value.type.tensor_type.shape.dim]


def interface_problems(model, case):
    h, w, c = case["input"]
    problems = []
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 17:
        problems.append(f"opset {opset} < 17")
    (inp,), (out,) = model.graph.input, model.graph.output
    if inp.name != "input" or inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        problems.append(f"input {inp.name!r} of type {inp.type.tensor_type.elem_type}")
    shape = dims(inp)
    if not isinstance(shape[0], str) or shape[1:] != [c, h, w]:
        problems.append(f"input shape {shape}, expected [N, {c}, {h}, {w}]")
    if out.name != "probabilities" or not isinstance(dims(out)[0], str) or dims(out)[1:] != [case["classes"]]:
        problems.append(f"output {out.name!r} of shape {dims(out)}")
    return problems


def nchw(x):
    """(N, H, W, C) values in [0, 1] as float32 NCHW."""
    return np.asarray(x, dtype=np.float32).transpose(0, 3, 1, 2)


def check(case):
    model = onnx.load(case["onnx"])
    onnx.checker.check_model(model, full_check=True)
    problems = interface_problems(model, case)
    session = ort.InferenceSession(case["onnx"], providers=["CPUExecutionProvider"])
    channels = case["input"][2]
    notes = []

    predict = case["predict"]
    images = [read_png(p) for p in predict["images"]]
    if any(img.shape[2] != channels for img in images):
        raise ValueError("predict images must have the model's channels")
    (probs,) = session.run(None, {"input": nchw(np.stack(images) / 255.0)})
    expected = np.asarray(predict["probabilities"], dtype=np.float64)
    diff = float(np.max(np.abs(probs - expected)))
    notes.append(f"predict max |dp| {diff:.1e}")
    if probs.shape != expected.shape or not diff <= TOLERANCE:
        problems.append(f"predict probabilities differ by {diff:.3e} (> {TOLERANCE})")
    sums = np.abs(probs.sum(axis=1) - 1.0).max()
    if sums > 1e-5:
        problems.append(f"probabilities sum to 1 +- {sums:.1e}")

    ev = case.get("eval")
    if ev:
        x, labels = read_split(ev["test"], ev["train"], channels)
        (probs,) = session.run(None, {"input": nchw(x)})
        loss = float(np.mean(-np.log(probs[np.arange(len(labels)), labels].astype(np.float64))))
        weights = {t.name: onnx.numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
        loss += sum(f * float(np.sum(weights[f"{layer}.weight"] ** 2)) for layer, f in ev["l2"].items())
        accuracy = float(np.mean(np.argmax(probs, axis=1) == labels))
        cnnc = ev["cnnc"]
        rel = abs(loss - cnnc["loss"]) / max(abs(cnnc["loss"]), 1e-6)
        notes.append(f"eval loss rel {rel:.1e}")
        if not rel <= TOLERANCE:
            problems.append(f"eval loss {loss:.6f} vs cnnc's {cnnc['loss']:.6f} (relative {rel:.2e})")
        if abs(accuracy - cnnc["accuracy"]) > 1e-9 or len(labels) != cnnc["samples"]:
            problems.append(
                f"eval accuracy {accuracy} of {len(labels)} vs cnnc's {cnnc['accuracy']} of {cnnc['samples']}"
            )
    return problems, notes


def main():
    cases = json.loads((Path(sys.argv[1]) / "cases.json").read_text())
    if not cases:
        sys.exit("no models to check: an empty cases.json proves nothing")
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    failed = 0
    for case in cases:
        try:
            problems, notes = check(case)
        except Exception as e:  # a file onnx or onnxruntime refuses is a failure too
            problems, notes = [f"{type(e).__name__}: {e}"], []
        if problems:
            failed += 1
            for p in problems:
                print(f"FAIL {case['name']}: {p}")
        else:
            print(f"ok   {case['name']}: {', '.join(notes)}")
    print(f"onnxruntime agrees with cnnc on {len(cases) - failed} of {len(cases)} models")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
