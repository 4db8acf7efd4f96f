# triton.runtime.jit
from triton_metal.jit import (JITFunction, jit, TensorWrapper, reinterpret, MockTensor,  # noqa: F401
                              type_canonicalisation_dict, get_device)
from triton_metal.autotuner import KernelInterface  # noqa: F401
