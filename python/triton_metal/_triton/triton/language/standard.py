# triton.language.standard: the functions upstream writes in Triton itself
from triton_metal.language.standard import *  # noqa: F401,F403
from triton_metal.language.standard import _log2, _log, __all__  # noqa: F401
