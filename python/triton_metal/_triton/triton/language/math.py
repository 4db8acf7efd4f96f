# triton.language.math
from triton_metal.language.math import *  # noqa: F401,F403
from triton_metal.language.math import __all__  # noqa: F401
