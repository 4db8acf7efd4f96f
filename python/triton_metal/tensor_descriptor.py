# tensor_descriptor.py: the host side of upstream's
# triton.tools.tensor_descriptor.TensorDescriptor (a tensor plus the block shape
# a kernel loads it by). Kernels cannot take one as an argument yet: jit.py
# refuses it with a clear error until the compiler lowers descriptor loads.

from dataclasses import dataclass
from typing import Any, List


@dataclass
class TensorDescriptor:
    base: Any
    shape: List[int]
    strides: List[int]
    block_shape: List[int]
    padding: str = "zero"

    def __post_init__(self):
        rank = len(self.shape)
        if len(self.strides) != rank or len(self.block_shape) != rank:
            raise ValueError(f"TensorDescriptor: shape {self.shape}, strides {self.strides} and "
                             f"block_shape {self.block_shape} must have the same rank")
        if rank == 0:
            raise ValueError("TensorDescriptor: rank must be at least 1")
        if self.strides[-1] != 1:
            raise ValueError(f"TensorDescriptor: the last dimension must be contiguous "
                             f"(stride 1), got strides {self.strides}")
        for b in self.block_shape:
            if b <= 0 or b & (b - 1):
                raise ValueError(f"TensorDescriptor: block_shape entries must be powers of "
                                 f"two, got {self.block_shape}")
        if self.padding not in ("zero", "nan"):
            raise ValueError(f"TensorDescriptor: padding must be 'zero' or 'nan', "
                             f"got {self.padding!r}")

    @staticmethod
    def from_tensor(tensor, block_shape, padding="zero"):
        """A descriptor of a torch tensor or NumPy array (strides in elements)."""
        if hasattr(tensor, "stride") and callable(tensor.stride):
            strides = list(tensor.stride())
        else:
            strides = [s // tensor.itemsize for s in tensor.strides]
        return TensorDescriptor(tensor, list(tensor.shape), strides, list(block_shape), padding)


# Upstream's older host-side TMA descriptors (triton.tools.experimental_descriptor):
# NVIDIA Hopper's tensor memory accelerator, which Apple GPUs do not have.
# The names exist so that code probing for them imports; using one is refused.

def _no_tma(*args, **kwargs):
    raise RuntimeError("TMA descriptors are an NVIDIA Hopper feature that Apple GPUs do not "
                       "have; use TensorDescriptor (triton.tools.tensor_descriptor) or "
                       "block pointers instead")


def create_1d_tma_descriptor(*args, **kwargs):
    _no_tma()


def create_2d_tma_descriptor(*args, **kwargs):
    _no_tma()


class TmaDescKernelParam:
    def __init__(self, *args, **kwargs):
        _no_tma()


def enable_in_pytorch():
    """Whether torch should use these descriptors: never here."""
    return False
