# triton.errors
from triton_metal.errors import TritonError  # noqa: F401
