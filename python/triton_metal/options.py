# options.py: launch options (keywords of kernel[grid](...) that name no
# parameter, and defaults given to @jit(...)), validated with clear errors.
#
#   changes the code       num_warps, debug, metal_optimization_level (-> the
#                          request's opt_level), debug_info
#   accepted, no effect    upstream's num_stages, num_ctas (must be 1), maxnreg,
#                          enable_fp_fusion, matrix_instr_nonkdim,
#                          instrumentation_mode, waves_per_eu, kpack; and
#                          memory_optimization, fusion_optimization (recorded in
#                          the kernel's metadata; the compiler has no such passes
#                          to switch yet); extern_libs (libdevice is built into
#                          the compiler: no bitcode libraries are linked),
#                          launch_pdl (a scheduling hint for NVIDIA's dependent
#                          launches), sanitize_overflow
#   must be False          launch_cooperative_grid (Metal cannot guarantee that
#                          every program of a grid is resident at once)
#   must be 'metal'        backend
#
# Any other keyword is upstream's KeyError("Keyword argument X was specified but
# unrecognised").

import os
from collections import namedtuple

# tm_opt_level (include/triton_metal.h)
OPT_DEFAULT, OPT_NONE, OPT_BASIC, OPT_STANDARD, OPT_AGGRESSIVE = range(5)

OPT_LEVELS = {
    "none": OPT_NONE, "basic": OPT_BASIC, "standard": OPT_STANDARD,
    "aggressive": OPT_AGGRESSIVE, "experimental": OPT_AGGRESSIVE, "auto": OPT_DEFAULT,
}
FUSION_LEVELS = ("none", "basic", "hardware_specific", "auto")

# name -> default
DEFAULTS = {
    "num_warps": 4, "debug": None, "num_stages": 3, "num_ctas": 1, "maxnreg": None,
    "enable_fp_fusion": True, "matrix_instr_nonkdim": 0, "instrumentation_mode": "",
    "waves_per_eu": 0, "kpack": 1,
    "memory_optimization": "auto", "fusion_optimization": "auto",
    "metal_optimization_level": None, "debug_info": False, "backend": "metal",
    "extern_libs": None, "launch_pdl": False, "launch_cooperative_grid": False,
    "sanitize_overflow": True,
}
NAMES = frozenset(DEFAULTS)

# What a compile depends on, beyond the specialization (the cache keys hold these).
Options = namedtuple("Options", "num_warps debug opt_level debug_info num_stages num_ctas "
                                "maxnreg enable_fp_fusion memory_optimization "
                                "fusion_optimization")


class NumWarpsError(ValueError, AssertionError):
    """A bad num_warps: a ValueError, and an AssertionError as upstream raises."""


def _int(name, v, lo, kernel):
    if type(v) is not int or v < lo:
        raise ValueError(f"{kernel}: {name} must be an int >= {lo}, got {v!r}")
    return v


def _choice(name, v, allowed, kernel):
    if not isinstance(v, str) or v not in allowed:
        raise ValueError(f"{kernel}: {name} must be one of {', '.join(allowed)}; got {v!r}")
    return v


def env_opt_level():
    """TRITON_METAL_OPT_LEVEL=0..3 -> OPT_NONE..OPT_AGGRESSIVE; unset -> OPT_DEFAULT."""
    e = os.environ.get("TRITON_METAL_OPT_LEVEL", "").strip()
    if not e:
        return OPT_DEFAULT
    if e not in ("0", "1", "2", "3"):
        raise ValueError(f"TRITON_METAL_OPT_LEVEL must be 0, 1, 2 or 3, got {e!r}")
    return OPT_NONE + int(e)


def check_names(opts, kernel=None):
    for k in opts:
        if k not in NAMES:  # upstream's text, then the kernel
            raise KeyError(f"Keyword argument {k} was specified but unrecognised"
                           + (f" (kernel {kernel})" if kernel else ""))


def resolve(kernel, opts, defaults, jit_debug):
    """Options for a launch: opts (launch keywords) over defaults (@jit keywords)
    over DEFAULTS; every value checked. Raises KeyError/ValueError/TypeError."""
    check_names(opts, kernel)
    get = lambda k: opts[k] if k in opts else defaults.get(k, DEFAULTS[k])  # noqa: E731
    nw = get("num_warps")
    if type(nw) is not int or nw <= 0 or nw & (nw - 1) or nw > 32:
        raise NumWarpsError(f"{kernel}: num_warps must be a power of 2 from 1 to 32, got {nw!r}")
    backend = get("backend")
    if backend != "metal":
        raise ValueError(f"{kernel}: backend must be 'metal' (this is triton-metal), "
                         f"got {backend!r}")
    debug = get("debug")
    # upstream (JITFunction.run): the launch's debug=, else @jit's, and TRITON_DEBUG=1 turns it on regardless
    debug = bool(jit_debug if debug is None else debug) or os.environ.get("TRITON_DEBUG", "0") == "1"
    level = get("metal_optimization_level")
    if level is None:
        opt_level = env_opt_level()
    else:
        opt_level = OPT_LEVELS[_choice("metal_optimization_level", level, tuple(OPT_LEVELS),
                                       kernel)]
    debug_info = get("debug_info")
    if type(debug_info) is not bool:
        raise TypeError(f"{kernel}: debug_info must be True or False, got {debug_info!r}")
    mem = get("memory_optimization")
    if type(mem) is bool:
        mem = "auto" if mem else "none"
    _choice("memory_optimization", mem, FUSION_LEVELS, kernel)
    fusion = _choice("fusion_optimization", get("fusion_optimization"), FUSION_LEVELS, kernel)
    num_stages = _int("num_stages", get("num_stages"), 0, kernel)
    num_ctas = get("num_ctas")
    if num_ctas != 1:
        raise ValueError(f"{kernel}: num_ctas must be 1 on Metal (no thread-block clusters), "
                         f"got {num_ctas!r}")
    maxnreg = get("maxnreg")
    if maxnreg is not None:
        _int("maxnreg", maxnreg, 1, kernel)
    fp_fusion = get("enable_fp_fusion")
    if type(fp_fusion) is not bool:
        raise TypeError(f"{kernel}: enable_fp_fusion must be True or False, got {fp_fusion!r}")
    _int("matrix_instr_nonkdim", get("matrix_instr_nonkdim"), 0, kernel)
    if get("launch_cooperative_grid"):
        raise ValueError(f"{kernel}: launch_cooperative_grid=True is not supported: Metal "
                         "cannot guarantee that every program of a grid runs at once")
    libs = get("extern_libs")
    if libs is not None and not isinstance(libs, (dict, list, tuple)):
        raise TypeError(f"{kernel}: extern_libs must be a dict of library name -> path, "
                        f"got {libs!r}")
    return Options(nw, debug, opt_level, debug_info, num_stages, 1, maxnreg, fp_fusion, mem,
                   fusion)


def check_defaults(kernel, defaults):
    """Validates @jit(...) option defaults once, when the kernel is decorated."""
    resolve(kernel, {}, defaults, False)

