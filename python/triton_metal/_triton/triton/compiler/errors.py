# triton.compiler.errors
from triton_metal.errors import (CompilationError, CompileTimeAssertionFailure,  # noqa: F401
                                 UnsupportedLanguageConstruct)
