# triton_metal: run unchanged Triton kernels on Apple GPUs (and, on Linux, on a
# CPU emulator of the Metal Shading Language we generate).
#
#   import triton_metal as triton
#   import triton_metal.language as tl
#   @triton.jit
#   def kernel(x_ptr, n, BLOCK: tl.constexpr): ...
#   kernel[(triton.cdiv(n, 1024),)](x, n, BLOCK=1024)

from . import language
from .jit import jit, JITFunction, CompiledKernel, get_device

try:
    from ._C import CompilationError, LaunchError
except ImportError as _e:  # extension not built: the pure-Python parts still work
    _C_IMPORT_ERROR = _e

    class CompilationError(Exception):
        """The kernel source was not accepted (message has file:line:col and a caret)."""

    class LaunchError(RuntimeError):
        """A kernel launch failed on the device."""

__version__ = "0.1.0"


def cdiv(x, y):
    """Ceiling division, for grids; also usable inside kernels."""
    return (x + y - 1) // y


def next_power_of_2(n):
    """The smallest power of two >= n (1 for n <= 1); also usable inside kernels."""
    n = int(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


cdiv._tm_path = "triton.cdiv"
next_power_of_2._tm_path = "triton.next_power_of_2"

__all__ = ["jit", "JITFunction", "CompiledKernel", "CompilationError", "LaunchError",
           "cdiv", "next_power_of_2", "language", "get_device"]
