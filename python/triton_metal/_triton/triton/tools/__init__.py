# triton.tools
from . import tensor_descriptor, experimental_descriptor, mxfp  # noqa: F401
