"""`torch.nn`'s modules as the printed PyTorch equivalents use them (see
`torch/__init__.py`), in inference: `eval()` mode, no autograd."""
import math
from collections import OrderedDict

import numpy as np

from . import Tensor


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Module:
    def __init__(self):
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_tensors", OrderedDict())

    def __setattr__(self, name, value):
        if isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, x):
        return self.forward(x)

    def eval(self):
        return self

    def state(self, prefix=""):
        """Every tensor by its state_dict name."""
        out = OrderedDict((prefix + k, v) for k, v in self._tensors.items())
        for name, m in self._modules.items():
            out.update(m.state(f"{prefix}{name}."))
        return out

    def load_state_dict(self, state, strict=True):
        mine = self.state()
        missing = sorted(set(mine) - set(state))
        unexpected = sorted(set(state) - set(mine))
        if strict and (missing or unexpected):
            raise RuntimeError(f"Error(s) in loading state_dict: missing {missing}, unexpected {unexpected}")
        for name, value in state.items():
            if name not in mine:
                continue
            if tuple(mine[name].shape) != tuple(value.shape):
                raise RuntimeError(f"size mismatch for {name}: {value.shape} vs {mine[name].shape}")
            *path, leaf = name.split(".")
            module = self
            for p in path:
                module = module._modules[p]
            module._tensors[leaf] = np.asarray(value, dtype=np.float64)


class Sequential(Module):
    def __init__(self, modules):
        super().__init__()
        for name, m in modules.items():
            setattr(self, name, m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class Conv2d(Module):
    def __init__(self, cin, cout, kernel_size, stride=1, padding=0, groups=1):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.stride, self.padding, self.groups = _pair(stride), _pair(padding), groups
        self._tensors["weight"] = np.zeros((cout, cin // groups, kh, kw))
        self._tensors["bias"] = np.zeros(cout)

    def forward(self, x):
        w, b = self._tensors["weight"], self._tensors["bias"]
        (ph, pw), (sh, sw), g = self.padding, self.stride, self.groups
        x = np.pad(np.asarray(x), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
        out = np.zeros((n, o, oh, ow))
        og = o // g
        for gi in range(g):
            xs = x[:, gi * cg:(gi + 1) * cg]
            for i in range(kh):
                for j in range(kw):
                    patch = xs[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]  # n, cg, oh, ow
                    out[:, gi * og:(gi + 1) * og] += np.einsum("ncyx,oc->noyx", patch, w[gi * og:(gi + 1) * og, :, i, j])
        return (out + b[None, :, None, None]).view(Tensor)


class Linear(Module):
    def __init__(self, fin, fout):
        super().__init__()
        self._tensors["weight"] = np.zeros((fout, fin))
        self._tensors["bias"] = np.zeros(fout)

    def forward(self, x):
        return (np.asarray(x) @ self._tensors["weight"].T + self._tensors["bias"]).view(Tensor)


class _Pool(Module):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride if stride is not None else kernel_size)

    def forward(self, x):
        x = np.asarray(x)
        (kh, kw), (sh, sw) = self.kernel, self.stride
        oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
        windows = [x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] for i in range(kh) for j in range(kw)]
        return self.reduce(np.stack(windows), axis=0).view(Tensor)


class MaxPool2d(_Pool):
    reduce = staticmethod(np.max)


class AvgPool2d(_Pool):
    reduce = staticmethod(np.mean)


class AdaptiveAvgPool2d(Module):
    def __init__(self, size):
        super().__init__()
        assert size == 1, "the printed modules pool globally"

    def forward(self, x):
        return np.asarray(x).mean(axis=(2, 3), keepdims=True).view(Tensor)


class AdaptiveMaxPool2d(AdaptiveAvgPool2d):
    def forward(self, x):
        return np.asarray(x).max(axis=(2, 3), keepdims=True).view(Tensor)


class Flatten(Module):
    def forward(self, x):
        return x.view(Tensor).flatten(1)


class ZeroPad2d(Module):
    def __init__(self, padding):
        super().__init__()
        self.left, self.right, self.top, self.bottom = padding

    def forward(self, x):
        pads = ((0, 0), (0, 0), (self.top, self.bottom), (self.left, self.right))
        return np.pad(np.asarray(x), pads).view(Tensor)


class _BatchNorm(Module):
    def __init__(self, c, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        for name, value in [("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)]:
            self._tensors[name] = np.full(c, value)

    def forward(self, x):
        t = self._tensors
        shape = (1, -1) + (1,) * (np.asarray(x).ndim - 2)
        scale = (t["weight"] / np.sqrt(t["running_var"] + self.eps)).reshape(shape)
        return ((np.asarray(x) - t["running_mean"].reshape(shape)) * scale + t["bias"].reshape(shape)).view(Tensor)


class BatchNorm1d(_BatchNorm):
    pass


class BatchNorm2d(_BatchNorm):
    pass


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()

    def forward(self, x):
        return x  # eval mode


class _Elementwise(Module):
    def forward(self, x):
        return self.f(np.asarray(x)).view(Tensor)


class ReLU(_Elementwise):
    f = staticmethod(lambda x: np.maximum(x, 0))


class Sigmoid(_Elementwise):
    f = staticmethod(lambda x: 1 / (1 + np.exp(-x)))


class Tanh(_Elementwise):
    f = staticmethod(np.tanh)


class ReLU6(_Elementwise):
    f = staticmethod(lambda x: np.minimum(np.maximum(x, 0), 6))


class GELU(_Elementwise):
    # approximate="none": x Phi(x), Phi the standard normal's CDF.
    f = staticmethod(lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))))


class SiLU(_Elementwise):
    f = staticmethod(lambda x: x / (1 + np.exp(-x)))


class ELU(_Elementwise):
    # alpha = 1.
    f = staticmethod(lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))))


class Softplus(_Elementwise):
    # beta = 1, threshold = 20: linear above it.
    f = staticmethod(lambda x: np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20)))))


class Hardsigmoid(_Elementwise):
    f = staticmethod(lambda x: np.clip(x / 6 + 0.5, 0, 1))


class Hardswish(_Elementwise):
    f = staticmethod(lambda x: x * np.clip(x + 3, 0, 6) / 6)


class LeakyReLU(Module):
    def __init__(self, slope=0.01):
        super().__init__()
        self.slope = slope

    def forward(self, x):
        x = np.asarray(x)
        return np.where(x > 0, x, self.slope * x).view(Tensor)
