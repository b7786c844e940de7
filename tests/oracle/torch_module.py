"""Runs the PyTorch module that `cnnc summary --pytorch` printed, as text,
on the weights cnnc saved and the PNGs `cnnc predict` read, and holds its
probabilities to cnnc's: `DIR/cases.json` lists, per model, its folder
(holding `module.py` and `model.safetensors`, which the printed code loads
by that name), its input shape (H, W, C), the images (HWC pixels in
[0, 1]) and cnnc's probabilities. With PyTorch installed
it is PyTorch's; otherwise the numpy stand-in of `torch_standin/`, which
implements the printed modules' operations as PyTorch documents them.

Prints one line per model and `FAIL name: …` for each disagreement; exits
1 if any.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

try:
    import torch  # noqa: F401
    WHICH = f"PyTorch {torch.__version__}"
except ImportError:
    sys.path.insert(0, str(HERE / "torch_standin"))
    import torch  # noqa: E402
    WHICH = "the numpy stand-in for PyTorch (tests/oracle/torch_standin)"

TOLERANCE = 1e-5


def run_case(case):
    """The printed module's probabilities for the case's images."""
    os.chdir(case["dir"])
    code = Path("module.py").read_text()
    scope = {"__name__": "printed"}
    exec(compile(code, "module.py", "exec"), scope)  # loads model.safetensors
    model = scope["model"]
    model.eval()
    rows = []
    with torch.no_grad():
        for image in case["images"]:
            pixels = np.array(image, dtype=np.float64).reshape(case["shape"])  # H, W, C
            x = torch.tensor(pixels.transpose(2, 0, 1)[None])
            if hasattr(x, "float") and not isinstance(x, np.ndarray):
                x = x.float()
            rows.append(np.asarray(model(x).softmax(1), dtype=np.float64)[0])
    return np.array(rows)


def main(root):
    cases = json.loads((Path(root) / "cases.json").read_text())
    print(f"the printed modules run by {WHICH}")
    failed = 0
    for case in cases:
        theirs = run_case(case)
        ours = np.array(case["probabilities"], dtype=np.float64)
        worst = float(np.abs(theirs - ours).max())
        ok = theirs.shape == ours.shape and worst <= TOLERANCE
        print(f"{case['name']:<40} {len(ours)} images, largest difference {worst:.2e}")
        if not ok:
            failed += 1
            print(f"FAIL {case['name']}: probabilities differ by {worst:.3e} (tolerance {TOLERANCE})")
    if not cases:
        print("FAIL no cases")
        failed += 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1])
