# triton.backends.driver
from triton_metal.runtime import DriverBase, GPUDriver  # noqa: F401
