# triton.backends: the backends this installation has. Here: metal.
from triton_metal.runtime import backends  # noqa: F401
from .compiler import BaseBackend, GPUTarget  # noqa: F401
from .driver import DriverBase, GPUDriver  # noqa: F401
