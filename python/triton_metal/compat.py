# compat.py: `import triton` for code written against upstream Triton.
#
#   import triton_metal; triton_metal.install()
#   import triton, triton.language as tl        # -> triton-metal, in upstream's module tree
#
# `triton` is then a package of its own (triton_metal/_triton/triton: one small
# file per upstream module that code imports, each re-exporting our
# implementation), found by the meta-path finder in _triton_metal_finder.py.
# install() puts that finder first, unless upstream Triton is installed: then
# it changes nothing and returns False (force=True replaces it in this process).
# The startup hook (triton-metal.pth, installed beside the package) does the
# same when the environment has TRITON_BACKEND=metal, and otherwise registers the
# finder last, so that `import triton` is ours wherever no other Triton exists.

import sys
import warnings

import _triton_metal_finder as _finder


def upstream_installed():
    """True when a Triton other than ours is importable as `triton`."""
    return _finder.other_triton_importable()


def installed():
    """True when `import triton` gives (or gave) triton-metal's tree."""
    m = sys.modules.get("triton")
    if m is not None:
        return _finder.is_ours(m)
    return any(f.mode == "first" for f in _finder.finders())


def install(force=False):
    """Makes `import triton` (and the submodules that kernels, libraries and torch
    import) resolve to triton-metal. Returns True when installed; False, with a
    warning, when upstream Triton is installed (force=True replaces it in this
    process anyway)."""
    m = sys.modules.get("triton")
    if m is not None and _finder.is_ours(m):
        _finder.register("first")
        return True
    if upstream_installed() and not force:
        warnings.warn("triton_metal.install(): upstream Triton is installed, so `import "
                      "triton` stays upstream's; run its kernels on Metal with "
                      "triton_metal.jit(kernel), or pass force=True", RuntimeWarning,
                      stacklevel=2)
        return False
    _drop_triton_modules()
    _finder.register("first")
    return True


def uninstall():
    """Removes what install() registered and forgets our `triton` modules (for tests)."""
    m = sys.modules.get("triton")
    if m is not None and not _finder.is_ours(m):
        return
    _finder.remove()
    _drop_triton_modules()


def _drop_triton_modules():
    for name in list(sys.modules):
        if name == "triton" or name.startswith("triton."):
            del sys.modules[name]
