# triton.tools.experimental_descriptor: upstream's older host-side TMA descriptors.
# Apple GPUs have no TMA; the names exist so code that probes for them imports,
# and creating one says why it cannot be used.
from triton_metal.tensor_descriptor import (create_1d_tma_descriptor,  # noqa: F401
                                            create_2d_tma_descriptor, TmaDescKernelParam,
                                            enable_in_pytorch)
