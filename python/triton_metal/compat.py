# compat.py: `import triton` for code written against upstream Triton.
#
#   import triton_metal; triton_metal.install()
#   import triton, triton.language as tl        # -> triton_metal's modules
#
# install() registers triton_metal's modules in sys.modules under upstream's
# names (the table below), unless upstream Triton is installed: then it changes
# nothing and returns False (use triton_metal.jit on upstream kernels instead).
# The package's startup hook (triton-metal.pth, installed next to the package)
# calls install() when the environment has TRITON_BACKEND=metal.

import importlib.util
import sys
import types
import warnings


def _module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    return m


def _aliases():
    import triton_metal as tm
    from . import language, runtime, testing, tensor_descriptor
    from .language import extra, math
    from .language.extra import libdevice
    compiler_errors = _module("triton.compiler.errors", CompilationError=tm.CompilationError,
                              CompileTimeAssertionFailure=tm.CompilationError)
    compiler = _module("triton.compiler", CompilationError=tm.CompilationError,
                       CompiledKernel=tm.CompiledKernel, errors=compiler_errors)
    td = _module("triton.tools.tensor_descriptor",
                 TensorDescriptor=tensor_descriptor.TensorDescriptor)
    tools = _module("triton.tools", tensor_descriptor=td)
    backends = _module("triton.backends", backends=runtime.backends)
    rt_jit = _module("triton.runtime.jit", **vars(runtime.jit))
    rt_autotuner = _module("triton.runtime.autotuner", **vars(runtime.autotuner))
    rt_errors = _module("triton.runtime.errors", **vars(runtime.errors))
    return {
        "triton": tm,
        "triton.language": language,
        "triton.language.core": language,
        "triton.language.standard": language,
        "triton.language.math": math,
        "triton.language.extra": extra,
        "triton.language.extra.libdevice": libdevice,
        "triton.language.extra.cuda": _module("triton.language.extra.cuda", libdevice=libdevice),
        "triton.language.extra.cuda.libdevice": libdevice,
        "triton.testing": testing,
        "triton.runtime": runtime,
        "triton.runtime.jit": rt_jit,
        "triton.runtime.autotuner": rt_autotuner,
        "triton.runtime.errors": rt_errors,
        "triton.compiler": compiler,
        "triton.compiler.errors": compiler_errors,
        "triton.tools": tools,
        "triton.tools.tensor_descriptor": td,
        "triton.backends": backends,
    }


def upstream_installed():
    """True when a Triton other than ours is importable as `triton`."""
    import triton_metal
    m = sys.modules.get("triton")
    if m is not None:
        return m is not triton_metal
    try:
        return importlib.util.find_spec("triton") is not None
    except (ImportError, ValueError):
        return False


def installed():
    import triton_metal
    return sys.modules.get("triton") is triton_metal


def install(force=False):
    """Makes `import triton` (and its submodules that kernels, launchers and
    tutorials use) resolve to triton_metal. Returns True when installed; False,
    with a warning, when upstream Triton is installed (force=True replaces it in
    this process anyway)."""
    if installed():
        return True
    if upstream_installed() and not force:
        warnings.warn("triton_metal.install(): upstream Triton is installed, so `import "
                      "triton` stays upstream's; run its kernels on Metal with "
                      "triton_metal.jit(kernel), or pass force=True", RuntimeWarning,
                      stacklevel=2)
        return False
    for name, mod in _aliases().items():
        sys.modules[name] = mod
    return True


def uninstall():
    """Removes what install() registered (for tests)."""
    import triton_metal
    if sys.modules.get("triton") is not triton_metal:
        return
    for name in list(sys.modules):
        if name == "triton" or name.startswith("triton."):
            del sys.modules[name]
