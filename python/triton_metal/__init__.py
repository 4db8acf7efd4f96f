# triton_metal: run unchanged Triton kernels on Apple GPUs (and, on Linux, on a
# CPU emulator of the Metal Shading Language we generate).
#
#   import triton_metal as triton
#   import triton_metal.language as tl
#   @triton.jit
#   def kernel(x_ptr, n, BLOCK: tl.constexpr): ...
#   kernel[(triton.cdiv(n, 1024),)](x, n, BLOCK=1024)
#
# Or, for code that says `import triton`: triton_metal.install() first (or
# TRITON_BACKEND=metal in the environment; see compat.py).

import os as _os

# The emulator's seed for new kernel caches (tools/make_seed.py, made by
# `make all`): the toolchain record and precompiled shims a new cache would
# otherwise make first. TRITON_METAL_CPU_SEED="" turns it off.
_seed = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "_seed", "cpu")
if "TRITON_METAL_CPU_SEED" not in _os.environ and _os.path.isdir(_seed):
    _os.environ["TRITON_METAL_CPU_SEED"] = _seed
del _seed

from . import language
from .jit import jit, JITFunction, CompiledKernel, get_device, TensorWrapper, reinterpret

from .errors import (TritonError, CompilationError, LaunchError, OutOfResources,
                     InterpreterError)

try:
    from . import _C  # noqa: F401
except ImportError as _e:  # extension not built: the pure-Python parts still work
    _C_IMPORT_ERROR = _e

from .autotuner import Config, autotune, heuristics
from . import testing
from . import runtime
from . import compiler
from . import knobs
from .compat import install, uninstall
from .tensor_descriptor import TensorDescriptor
from .visible import kernel_visible, KernelVisible

__version__ = "0.1.0"

# The upstream Triton API level that `import triton` presents (triton.__version__):
# libraries branch on it. Our own version is __version__.
TRITON_API_VERSION = "3.4.0"


from .language.core import constexpr_function  # noqa: E402


def must_use_result(x, s=True):
    """Upstream's marker for functions whose result must be used; a no-op mark here."""
    if isinstance(x, str):
        return lambda fn: must_use_result(fn, x)
    x._must_use_result = s
    return x


@constexpr_function
def cdiv(x, y):
    """Ceiling division, for grids; also usable inside kernels."""
    return (x + y - 1) // y


@constexpr_function
def next_power_of_2(n):
    """The smallest power of two >= n (0 for n <= 0, as upstream); also usable
    inside kernels."""
    n = int(n)
    return 0 if n <= 0 else 1 << (n - 1).bit_length()


cdiv._tm_path = "triton.cdiv"
next_power_of_2._tm_path = "triton.next_power_of_2"


def set_allocator(allocator):
    """Upstream's global-scratch allocator hook; kernels here need no scratch."""
    global _allocator
    _allocator = allocator


_allocator = None

__all__ = ["jit", "JITFunction", "CompiledKernel", "TritonError", "CompilationError", "LaunchError",
           "OutOfResources", "cdiv", "next_power_of_2", "constexpr_function", "language",
           "testing", "runtime", "get_device", "Config", "autotune", "heuristics", "install",
           "uninstall", "TensorDescriptor", "set_allocator", "kernel_visible", "KernelVisible"]
from ._check import check_compatibility  # noqa: E402  (compatibility report: _check.py)
