# triton.compiler
from triton_metal.compiler import compile, ASTSource, CompiledKernel, make_backend  # noqa: F401
from triton_metal.errors import CompilationError  # noqa: F401
from . import compiler, errors  # noqa: F401
