# triton.language
from triton_metal.language import *  # noqa: F401,F403
from triton_metal.language import __all__  # noqa: F401

# The star import bound core, math, ... to triton_metal's modules; here they must be
# this package's own submodules (triton.language.core, as sys.modules has it), or
# `from . import core` would keep the old binding and code that inspects
# triton.language.core would see another module than `import triton.language.core`.
del core, standard, math, random, extra  # noqa: F821
from . import core, standard, math, random, extra  # noqa: F401,E402
