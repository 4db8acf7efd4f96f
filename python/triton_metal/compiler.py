# compiler.py: upstream's `triton.compiler` surface over triton-metal's compiler.
#
#   compile(ASTSource(fn, signature, constexprs))   -> CompiledKernel (ahead of a launch)
#   GPUTarget(backend, arch, warp_size)             what driver.active.get_current_target() gives
#   make_backend(target) -> MetalBackend            what tools ask of a backend: hash(), options
#   triton_key()                                    changes whenever the compiler does
#
# Upstream also compiles TTIR/TTGIR text files; triton-metal compiles Triton
# source only, and says so.
import hashlib
from collections import namedtuple

from . import _tm
from . import options as _options
from .cache import triton_key  # noqa: F401
from .errors import CompilationError
from .jit import CompiledKernel, JITFunction, _POINTER, _SCALAR, _CONSTEXPR, to_value
from .language import core as _core

GPUTarget = namedtuple("GPUTarget", "backend arch warp_size")


class ASTSource:
    """A @jit function with the types of its parameters: signature maps each
    parameter name to "*fp32" (a pointer), "i32"/"fp32"/... (a scalar) or
    "constexpr"; constexprs maps names (or 1-tuples of parameter indices, as
    upstream) to their values; attrs may mark pointers and integers divisible by
    16 ({(i,): [["tt.divisibility", 16]]})."""

    def __init__(self, fn, signature, constexprs=None, attrs=None):
        if not isinstance(fn, JITFunction):
            raise TypeError("ASTSource takes a @jit function")
        self.fn = fn
        self.ext = "ttir"
        self.name = fn.__name__
        self.signature = dict(signature)
        self.constants = {}
        for k, v in (constexprs or {}).items():
            if isinstance(k, tuple):
                k = fn.arg_names[k[0]]
            self.constants[k] = v
        self.attrs = attrs or {}

    def hash(self):
        key = f"{self.fn.cache_key}-{sorted(self.signature.items())}-{sorted(map(str, self.constants.items()))}"
        return hashlib.sha256(key.encode()).hexdigest()

    def _div16(self, i):
        for path, props in self.attrs.items():
            if tuple(path) == (i,) and any(p[0] == "tt.divisibility" and p[1] % 16 == 0
                                           for p in props):
                return True
        return False

    def specs(self):
        out = []
        for i, name in enumerate(self.fn.arg_names):
            ty = self.signature.get(name, "constexpr" if name in self.constants else None)
            if ty is None:
                raise TypeError(f"{self.name}: the signature gives no type for parameter '{name}'")
            if ty == "constexpr":
                if name not in self.constants:
                    raise TypeError(f"{self.name}: constexpr parameter '{name}' has no value")
                out.append((_CONSTEXPR, _tm.VOID, 0) + to_value(self.constants[name]))
                continue
            t = _core.str_to_ty(ty)
            flags = _tm.PF_DIV16 if self._div16(i) else 0
            if t.is_ptr():
                code = t.element_ty.tm
                kind = _POINTER
            else:
                code = t.tm
                kind = _SCALAR
            if code is None or code == _tm.F64:
                raise TypeError(f"{self.name}: parameter '{name}' has type {ty}, which the "
                                "device does not support")
            out.append((kind, code, flags, _tm.V_NONE, None))
        return tuple(out)


def compile(src, target=None, options=None):
    """Compiles an ASTSource ahead of a launch; the result launches as
    compiled[grid](*args) with every parameter, constexprs included."""
    if isinstance(src, str):
        raise CompilationError(f"triton.compile({src!r}): triton-metal compiles Triton source "
                               "(an ASTSource of a @jit function), not TTIR/TTGIR text files")
    if not isinstance(src, ASTSource):
        raise TypeError("triton.compile takes an ASTSource")
    fn = src.fn
    opts = dict(options or {})
    o = _options.resolve(fn.__name__, opts, fn.default_options, fn.debug)
    specs = src.specs()
    key = (specs, o.num_warps, o.debug, (), o.opt_level, o.debug_info, o[4:])
    compiled = fn.cache.get(key) or fn._compile(key, specs, o)
    return compiled


class BaseBackend:
    """Upstream's backend interface, for code that asks a backend questions."""

    def __init__(self, target):
        self.target = target

    @staticmethod
    def supports_target(target):
        raise NotImplementedError


class _Options:
    """A backend's options, as parse_options returns them (attributes)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return f"MetalOptions({self.__dict__})"


class MetalBackend(BaseBackend):
    """The metal backend: compiles Triton source to MSL."""

    name = "metal"
    binary_ext = "metallib"

    @staticmethod
    def supports_target(target):
        return target.backend in ("metal", "mps", "cpu")

    def hash(self):
        return f"{triton_key()}-{self.target.arch}"

    def parse_options(self, opts):
        o = _options.resolve("backend", dict(opts or {}), {}, False)
        return _Options(num_warps=o.num_warps, num_ctas=1, num_stages=o.num_stages,
                        debug=o.debug, extern_libs=None, enable_fp_fusion=o.enable_fp_fusion,
                        backend_name="metal", warp_size=32)

    def get_codegen_implementation(self, options=None):
        return {}

    def get_module_map(self):
        return {}


def make_backend(target):
    """The backend for a target of driver.active.get_current_target()."""
    if not MetalBackend.supports_target(target):
        raise RuntimeError(f"no triton-metal backend for target {target}")
    return MetalBackend(target)
