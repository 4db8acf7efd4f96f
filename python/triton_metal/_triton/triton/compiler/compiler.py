# triton.compiler.compiler
from triton_metal.compiler import (compile, ASTSource, CompiledKernel, make_backend,  # noqa: F401
                                   triton_key)
