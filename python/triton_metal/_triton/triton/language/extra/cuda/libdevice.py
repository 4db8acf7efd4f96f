# triton.language.extra.cuda.libdevice: the same functions as triton.language.extra.libdevice
from triton_metal.language.extra.libdevice import *  # noqa: F401,F403
from triton_metal.language.extra.libdevice import __all__  # noqa: F401
