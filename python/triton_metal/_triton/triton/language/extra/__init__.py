# triton.language.extra: the backend math library, as `libdevice` and per backend
from . import libdevice, cuda, hip  # noqa: F401
