# triton.language.random
from triton_metal.language.random import *  # noqa: F401,F403
from triton_metal.language.random import __all__  # noqa: F401
