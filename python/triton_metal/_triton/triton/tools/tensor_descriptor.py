# triton.tools.tensor_descriptor
from triton_metal.tensor_descriptor import TensorDescriptor  # noqa: F401
