# triton.language.extra.cuda: kernels written for NVIDIA import libdevice from here
from . import libdevice  # noqa: F401
