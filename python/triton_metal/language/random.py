# language/random.py: `triton.language.random` (counter-based Philox generators).
from .core import make_stubs

FUNCTIONS = """
    philox philox_impl randint randint4x rand rand4x randn randn4x uint_to_uniform_float
    pair_uniform_to_normal
"""

make_stubs(globals(), "triton.language.random", FUNCTIONS)
__all__ = FUNCTIONS.split()
