# triton.testing
from triton_metal.testing import *  # noqa: F401,F403
from triton_metal.testing import __all__  # noqa: F401
