# triton.language.core: the language's types and functions (upstream keeps both here)
from triton_metal.language import *  # noqa: F401,F403
from triton_metal.language.core import (CONSTEXPR_0, CONSTEXPR_1, _unwrap_if_constexpr,  # noqa: F401
                                        const_pointer_type, builtin, is_builtin, get_int_dtype)
