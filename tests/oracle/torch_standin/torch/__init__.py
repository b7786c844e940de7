"""A stand-in for the part of PyTorch that `cnnc summary --pytorch` prints,
in numpy (float64), for machines without PyTorch (its Linux CPU wheels are
not on PyPI; the CUDA build is gigabytes). Each operation follows PyTorch's
documented semantics: NCHW tensors, OIHW kernels with `groups`, `[out, in]`
linear weights, `nn.Flatten` from dimension 1 (channel, row, column), and
the tensor methods the printed `forward` uses. tests/oracle/torch_module.py
runs the printed module with real PyTorch where it can be imported.
"""
import numpy as np

__version__ = "numpy stand-in"


class Tensor(np.ndarray):
    """An ndarray with the tensor methods the printed modules call."""

    def flatten(self, start_dim=0, end_dim=-1):
        end = end_dim % self.ndim
        shape = self.shape[:start_dim] + (-1,) + self.shape[end + 1:]
        return np.ascontiguousarray(self).reshape(shape).view(Tensor)

    def unflatten(self, dim, sizes):
        return np.asarray(self).reshape(self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:]).view(Tensor)

    def permute(self, *dims):
        return np.transpose(np.asarray(self), dims).view(Tensor)

    def softmax(self, dim):
        x = np.asarray(self)
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        return (e / e.sum(axis=dim, keepdims=True)).view(Tensor)


def tensor(values):
    return np.asarray(values, dtype=np.float64).view(Tensor)


def cat(tensors, dim=0):
    return np.concatenate([np.asarray(t) for t in tensors], axis=dim).view(Tensor)


class no_grad:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False
