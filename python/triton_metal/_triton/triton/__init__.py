# `triton`, as code written for upstream Triton imports it, served by triton-metal.
# This folder is a package tree in upstream's shape (one file per module that
# code imports); each file re-exports triton-metal's implementation. It is found
# by triton_metal._finder, never through sys.path: see triton_metal/compat.py.
import triton_metal as _tm

from triton_metal import (jit, JITFunction, CompiledKernel, TritonError, CompilationError,
                          LaunchError, OutOfResources, InterpreterError, Config, autotune,
                          heuristics, cdiv, next_power_of_2, constexpr_function, set_allocator,
                          get_device)
from triton_metal.autotuner import KernelInterface
from triton_metal.jit import TensorWrapper, reinterpret, MockTensor
from triton_metal.compiler import compile

from . import language, runtime, testing, compiler, backends, tools, knobs, errors  # noqa: F401

# The upstream API level this package implements; triton_metal.__version__ is ours.
__version__ = _tm.TRITON_API_VERSION

must_use_result = _tm.must_use_result

__all__ = ["jit", "JITFunction", "CompiledKernel", "TritonError", "CompilationError",
           "OutOfResources", "InterpreterError", "Config", "autotune", "heuristics", "cdiv",
           "next_power_of_2", "constexpr_function", "set_allocator", "KernelInterface",
           "TensorWrapper", "reinterpret", "MockTensor", "compile", "language", "runtime",
           "testing", "compiler", "backends", "tools", "knobs", "must_use_result"]
