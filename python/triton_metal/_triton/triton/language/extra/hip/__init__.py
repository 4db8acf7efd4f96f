# triton.language.extra.hip: kernels written for AMD import libdevice from here
from . import libdevice  # noqa: F401
