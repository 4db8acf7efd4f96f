"""Helpers that test_upstream_semantics.py calls through a module alias (h.f(x))."""
import triton_metal as triton
import triton_metal.language as tl

SCALE = 3


@triton.jit
def program_id64(axis):
    return tl.program_id(axis).to(tl.int64)


@triton.jit
def scaled(x):
    return x * SCALE


@triton.jit
def max_tie_right(a, ia, b, ib):
    # a combine function reached only through a helper of the kernel (FlagGems' cummax idiom)
    take_a = (a > b) | ((a == b) & (ia > ib))
    return tl.where(take_a, a, b), tl.where(take_a, ia, ib)
