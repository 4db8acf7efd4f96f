# triton.language
from triton_metal.language import *  # noqa: F401,F403
from triton_metal.language import __all__  # noqa: F401
from . import core, standard, math, random, extra  # noqa: F401
