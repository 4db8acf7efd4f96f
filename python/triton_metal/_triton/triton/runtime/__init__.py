# triton.runtime
from triton_metal.runtime import driver, MetalDriver, backends  # noqa: F401
from triton_metal.autotuner import Autotuner, Config, Heuristics, autotune, heuristics, KernelInterface  # noqa: F401
from triton_metal.jit import JITFunction, TensorWrapper, reinterpret, MockTensor  # noqa: F401
from triton_metal.errors import OutOfResources, InterpreterError  # noqa: F401
from . import jit, autotuner, errors, cache, interpreter  # noqa: F401
from .driver import driver  # noqa: F401,F811

__all__ = ["driver", "Autotuner", "Config", "Heuristics", "autotune", "heuristics",
           "KernelInterface", "JITFunction", "TensorWrapper", "reinterpret", "MockTensor",
           "OutOfResources", "InterpreterError"]
