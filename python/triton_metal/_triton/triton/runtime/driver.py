# triton.runtime.driver
from triton_metal.runtime import driver, MetalDriver  # noqa: F401
