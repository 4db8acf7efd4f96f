"""A stand-in `triton_metal` for upstream Triton's interpreter, used only by
bench/e2e.py on the interpreter side (PYTHONPATH=bench/e2e_interp, in a virtual
environment with upstream Triton and without triton-metal).

The examples and tests/exec files are written against triton-metal: they say
`import triton_metal as triton` and pass NumPy arrays to kernels. Upstream's
interpreter (TRITON_INTERPRET=1) runs the same kernel source, but takes torch
tensors (it reads `data_ptr()`). So that the same files run unedited on both
sides, this package
  - is upstream Triton under our name: `triton_metal.X` is `triton.X` (the
    module itself and every submodule, `triton_metal.language` included), and
  - hands kernels torch views of NumPy arrays at launch: an ndarray argument
    becomes `torch.from_numpy(a)` (the same memory: the kernel's stores are in
    the array afterwards) and a NumPy scalar the Python number it holds.
Nothing else changes: the kernels, the test bodies and their checks are the
files' own. Whatever else a file asks of triton-metal (its device, its errors)
is missing here and fails that test on this side, which the report counts.
"""
import importlib
import importlib.abc
import importlib.util
import os
import sys

if os.environ.get("TRITON_INTERPRET") != "1":
    raise ImportError("bench/e2e_interp is upstream Triton's interpreter under triton-metal's "
                      "name: run it with TRITON_INTERPRET=1 (bench/e2e.py does)")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import triton  # noqa: E402
import triton.runtime.interpreter as _interp  # noqa: E402

if os.path.dirname(os.path.dirname(os.path.abspath(triton.__file__))) == os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))):
    raise ImportError("bench/e2e_interp: `triton` is this folder's, not upstream Triton")


def _to_torch(v):
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, tuple):
        return tuple(_to_torch(x) for x in v)
    return v


_run = _interp.InterpretedFunction.run


def _run_with_numpy(self, *args, grid, warmup, **kwargs):
    return _run(self, *[_to_torch(a) for a in args], grid=grid, warmup=warmup,
                **{k: _to_torch(v) for k, v in kwargs.items()})


_interp.InterpretedFunction.run = _run_with_numpy


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """triton_metal.<name> -> the module triton.<name>."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(__name__ + "."):
            return None
        real = "triton" + fullname[len(__name__):]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return importlib.import_module("triton" + spec.name[len(__name__):])

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Alias())


def __getattr__(name):
    return getattr(triton, name)


from triton import *  # noqa: E402,F401,F403
from triton import language  # noqa: E402,F401
