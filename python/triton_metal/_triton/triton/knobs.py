# triton.knobs: the settings upstream reads from the environment, for the parts
# that mean something here (see triton_metal/knobs.py).
from triton_metal.knobs import *  # noqa: F401,F403
from triton_metal.knobs import __all__  # noqa: F401
