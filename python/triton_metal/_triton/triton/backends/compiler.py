# triton.backends.compiler
from triton_metal.compiler import BaseBackend, GPUTarget, MetalBackend  # noqa: F401
