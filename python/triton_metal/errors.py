# errors.py: the exception classes, shaped as upstream's (triton.errors,
# triton.compiler.errors, triton.runtime.errors). The extension module raises
# these classes (PyInit__C takes them from here).
#
#   TritonError                      base of everything the compiler and runtime raise
#   ├── CompilationError             the kernel source was not accepted
#   │     .error_message             the message without location and source excerpt
#   │     __cause__                  the same message as an exception of its own, as
#   │                                upstream chains the error that stopped the compile
#   ├── LaunchError (RuntimeError)   a launch failed on the device
#   ├── OutOfResources               a config needs more than the device has
#   └── InterpreterError             upstream's interpreter; never raised here
import re


class TritonError(Exception):
    """Base class of the errors triton-metal raises for kernels (upstream's triton.TritonError)."""


class CompileError(TritonError):
    """The error that stopped a compile, without location: the __cause__ of a
    CompilationError."""


_LOCATED = re.compile(r"^(?:.*?:\d+:\d+: )?error: (.*)$", re.MULTILINE)


class CompilationError(TritonError):
    """The kernel source was not accepted; the message has file:line:col and a caret.
    A failed tl.static_assert is a CompileTimeAssertionFailure (as upstream)."""

    def __new__(cls, *args):
        if cls is CompilationError and len(args) == 1 and isinstance(args[0], str):
            m = _LOCATED.search(args[0])
            if m and m.group(1).startswith("static_assert failed"):
                cls = CompileTimeAssertionFailure
        return super().__new__(cls, *args)

    def __init__(self, *args):
        super().__init__(*args)
        self.src = None
        self.node = None
        msg = args[0] if len(args) == 1 and isinstance(args[0], str) else None
        if len(args) == 3:  # upstream's signature: (src, node, error_message)
            self.src, self.node, msg = args
        m = _LOCATED.search(msg) if msg else None
        self.error_message = m.group(1) if m else msg
        if self.error_message is not None and self.__cause__ is None \
                and not isinstance(self, CompileTimeAssertionFailure):  # upstream: no cause
            self.__cause__ = CompileError(self.error_message)

    def __reduce__(self):
        return (type(self), self.args)


class CompileTimeAssertionFailure(CompilationError):
    """A tl.static_assert failed."""


class UnsupportedLanguageConstruct(CompilationError):
    """A Python construct the kernel language does not have."""


class LaunchError(TritonError, RuntimeError):
    """A kernel launch failed on the device."""


class DeviceAssertionError(LaunchError, AssertionError):
    """A tl.device_assert (or `assert` on device values) failed in debug mode.
    Both a RuntimeError, as upstream's CUDA launches raise ("device-side
    assert triggered"), and an AssertionError."""


class OutOfResources(TritonError):
    """A config needs more than the device has (threadgroup memory, threads)."""

    def __init__(self, required, limit, name):
        self.message = f"out of resource: {name}, Required: {required}, Hardware limit: {limit}"
        super().__init__(self.message)
        self.required, self.limit, self.name = required, limit, name

    def __reduce__(self):
        return (type(self), (self.required, self.limit, self.name))


class PTXASError(TritonError):
    """Upstream's ptxas failure; no PTX is assembled here, so never raised."""


class InterpreterError(TritonError):
    """Upstream's interpreter error. triton-metal has no interpreter mode
    (TRITON_INTERPRET is not read): never raised."""
