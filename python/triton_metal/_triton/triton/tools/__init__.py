# triton.tools
from . import tensor_descriptor, experimental_descriptor  # noqa: F401
