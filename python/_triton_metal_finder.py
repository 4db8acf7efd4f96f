# _triton_metal_finder.py: makes `import triton` find triton-metal's package tree
# (triton_metal/_triton/triton, upstream's module layout, each file re-exporting
# triton-metal). Kept out of the triton_metal package and free of imports beyond
# what Python's start has loaded (os, sys), because the startup hook
# (triton-metal.pth) runs it in every Python process.
#
#   first     our finder comes before every other: `import triton` is ours even
#             where upstream Triton is installed (triton_metal.install(),
#             TRITON_BACKEND=metal)
#   fallback  our finder comes after every other: `import triton` is ours only
#             where no other Triton is importable (the default after pip install,
#             as on every Mac, where upstream has no build)
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "triton_metal", "_triton")


class TritonMetalFinder:
    """A meta-path finder for `triton` and `triton.*` in ROOT."""

    def __init__(self, mode):
        self.mode = mode

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "triton" and not fullname.startswith("triton."):
            return None
        import importlib.util  # here, not at the top: most processes never import triton (~5 ms)
        base = os.path.join(ROOT, *fullname.split("."))
        init = os.path.join(base, "__init__.py")
        if os.path.isfile(init):
            return importlib.util.spec_from_file_location(fullname, init,
                                                          submodule_search_locations=[base])
        if os.path.isfile(base + ".py"):
            return importlib.util.spec_from_file_location(fullname, base + ".py")
        return None

    def __repr__(self):
        return f"TritonMetalFinder({self.mode!r})"


def finders():
    return [f for f in sys.meta_path if isinstance(f, TritonMetalFinder)
            or type(f).__name__ == "TritonMetalFinder"]


def register(mode):
    """Puts one finder of `mode` in sys.meta_path (replacing ours of the other mode)."""
    for f in finders():
        if f.mode == mode:
            return f
    remove()
    f = TritonMetalFinder(mode)
    if mode == "first":
        sys.meta_path.insert(0, f)
    else:
        sys.meta_path.append(f)
    return f


def remove():
    for f in finders():
        sys.meta_path.remove(f)


def is_ours(module):
    path = getattr(module, "__file__", None) or ""
    return os.path.abspath(path).startswith(ROOT + os.sep)


def other_triton_importable():
    """Whether a `triton` that is not ours can be imported in this process."""
    m = sys.modules.get("triton")
    if m is not None:
        return not is_ours(m)
    for f in sys.meta_path:
        if isinstance(f, TritonMetalFinder) or not hasattr(f, "find_spec"):
            continue
        try:
            spec = f.find_spec("triton", None)
        except (ImportError, ValueError):
            continue
        if spec is not None and not (spec.origin and os.path.abspath(spec.origin).startswith(ROOT)):
            return True
    return False


def startup():
    """The startup hook's work: TRITON_BACKEND=metal makes triton ours; otherwise
    ours serves `import triton` only where no other Triton is installed."""
    register("first" if os.environ.get("TRITON_BACKEND") == "metal" else "fallback")
