# test_language.py: the triton_metal.language namespace (dtypes, constexpr, stubs)
# and how a kernel's globals are resolved for the compiler (no compiler needed).
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
import triton_metal.language.math as tlmath
from triton_metal import _tm
from triton_metal.language import arange, program_id as pid_fn
from triton_metal.language.extra import libdevice

SCALE = 3
HALF = 0.5
FLAG = True
MODE = "fast"
NOTHING = None
BLOCK = tl.constexpr(128)
DT = tl.bfloat16
HUGE = 2**70
OBJ = object()


@triton.jit
def helper(x):
    return x * HELPER_ONLY


HELPER_ONLY = 9


@triton.jit
def kern(x_ptr):
    i = pid_fn(0) + arange(0, BLOCK) + tl.arange(0, BLOCK)
    v = helper(tl.load(x_ptr + i)) * SCALE * HALF
    w = tlmath.exp(v) + libdevice.exp(v) + triton.cdiv(SCALE, 2)
    if FLAG:
        w = w.to(DT)
    tl.static_print(MODE, NOTHING, HUGE, OBJ, range, np, undefined_name)
    tl.store(x_ptr + i, w)


def test_dtypes():
    assert tl.float32.name == "fp32" and str(tl.float32) == "fp32"
    assert repr(tl.float32) == "triton.language.float32" and repr(tl.bfloat16) == "triton.language.bfloat16"
    assert tl.dtype("fp16") == tl.float16 and tl.float16.fp_mantissa_width == 10
    assert tl.bfloat16.exponent_bias == 127 and tl.int8.int_bitwidth == 8
    assert "fp16" in tl.dtype.STANDARD_FP_TYPES and "uint8" in tl.dtype.UINT_TYPES
    assert tl.str_to_ty("i32") == tl.int32 and tl.str_to_ty("*fp16") == tl.pointer_type(tl.float16)
    # upstream's later two-argument form (its test helpers call str_to_ty(x, None)), and tuples
    assert tl.str_to_ty("bf16", None) == tl.bfloat16
    kp = tl.str_to_ty("*kfp32", None)
    assert kp == tl.pointer_type(tl.float32, const=True) and kp != tl.pointer_type(tl.float32)
    assert tl.str_to_ty(("i64", "*u8"), None) == (tl.int64, tl.pointer_type(tl.uint8))
    assert tl.str_to_ty("constexpr", 3) is tl.constexpr
    assert tl.pi32_t == tl.pointer_type(tl.int32) and tl.pi32_t != tl.int32
    assert tl.int1.tm == _tm.I1 and tl.bfloat16.tm == _tm.BF16 and tl.float64.tm == _tm.F64
    assert tl.float8e5.tm is None
    assert tl.float16.is_floating() and tl.int8.is_int_signed() and tl.uint8.is_int_unsigned()
    assert tl.int1.primitive_bitwidth == 1 and tl.int64.primitive_bitwidth == 64
    assert tl.float32 == tl.float32 and tl.float32 != tl.float16
    assert isinstance(tl.int32, tl.dtype)


def test_constexpr():
    c = tl.constexpr(5)
    assert c.value == 5 and c == 5 and int(c) == 5 and repr(c) == "constexpr[5]"
    assert tl.constexpr(c).value == 5


def test_stubs_raise_outside_kernels():
    for f in (tl.arange, tl.load, tl.sum, tl.math.exp, libdevice.exp):
        with pytest.raises(RuntimeError, match="outside a kernel"):
            f(0, 8)
    assert tl.arange._tm_path == "triton.language.arange"
    assert tl.math.exp._tm_path == "triton.language.math.exp"
    assert libdevice.exp._tm_path == "triton.language.extra.libdevice.exp"
    assert triton.cdiv._tm_path == "triton.cdiv"
    assert triton.next_power_of_2._tm_path == "triton.next_power_of_2"


def test_stub_table_is_complete():
    for name in ("program_id", "num_programs", "arange", "load", "store", "where", "full",
                 "zeros", "cdiv", "minimum", "maximum", "exp", "log", "sqrt", "abs", "sum",
                 "max", "min", "dot", "atomic_add", "static_range", "device_assert"):
        assert callable(getattr(tl, name)), name


def test_globals_resolution():
    g = kern._globals()
    M, F, V, J = _tm.G_MODULE, _tm.G_FUNC, _tm.G_VALUE, _tm.G_JITFN
    assert g["tl"][1:3] == (M, "triton.language")
    assert g["tlmath"][1:3] == (M, "triton.language.math")
    assert g["libdevice"][1:3] == (M, "triton.language.extra.libdevice")
    assert g["triton"][1:3] == (M, "triton")
    assert g["arange"][1:3] == (F, "triton.language.arange")
    assert g["pid_fn"][1:3] == (F, "triton.language.program_id")
    assert g["SCALE"][1:5] == (V, None, _tm.V_INT, 3)
    assert g["HALF"][1:5] == (V, None, _tm.V_FLOAT, 0.5)
    assert g["FLAG"][1:5] == (V, None, _tm.V_BOOL, True)
    assert g["MODE"][1:5] == (V, None, _tm.V_STR, "fast")
    assert g["NOTHING"][1:5] == (V, None, _tm.V_NONE, None)
    assert g["BLOCK"][1:5] == (V, None, _tm.V_INT, 128)
    assert g["DT"][1:5] == (V, None, _tm.V_DTYPE, _tm.BF16)
    name, kind, target, vk, val, src, file, line = g["helper"]
    assert kind == J and src.startswith("def helper(x):")  # decorators dropped, as upstream
    assert file == __file__ and line == helper.fn.__code__.co_firstlineno + 1
    assert g["HELPER_ONLY"][1:5] == (V, None, _tm.V_INT, 9)  # a helper's own global
    for missing in ("range", "undefined_name"):  # builtins and undefined names are not passed
        assert missing not in g
    # values kernels cannot use are passed as such, so the compiler can say why if one is used
    for unusable in ("HUGE", "OBJ", "np"):
        assert g[unusable][1] == _tm.G_UNUSABLE


def test_closure_names():
    LOCAL = 4

    @triton.jit
    def inner(x_ptr):
        tl.store(x_ptr, LOCAL)

    assert inner._globals()["LOCAL"][1:5] == (_tm.G_VALUE, None, _tm.V_INT, 4)


def test_kernel_source_and_line():
    assert kern.src.startswith("def kern(x_ptr):")
    assert kern.first_line == kern.fn.__code__.co_firstlineno + 1  # the def, after @jit
    assert kern.file == __file__


def test_nested_kernel_source_is_dedented():
    @triton.jit
    def nested(x_ptr):
        tl.store(x_ptr, 1)

    assert nested.src.startswith("def nested(x_ptr):\n    tl.store")


def test_source_is_cut_on_first_use_from_the_text_at_decoration(tmp_path, monkeypatch):
    """Decorating does not tokenize a kernel's block (a library's modules define
    hundreds a program never launches); the first use cuts it from the file's
    lines as they were at decoration, so a file edited after the import still
    gives the kernel the text that was imported (as upstream, which reads it
    at decoration)."""
    import importlib
    import inspect
    import sys
    path = tmp_path / "lazy_src_mod.py"
    path.write_text("import triton_metal as triton\nimport triton_metal.language as tl\n\n\n"
                    "@triton.jit\ndef add_k(x_ptr, BLOCK: tl.constexpr):\n"
                    "    offs = tl.arange(0, BLOCK)\n"
                    "    tl.store(x_ptr + offs, tl.load(x_ptr + offs) + 1)\n\n\n"
                    "@triton.jit\ndef unused_k(x_ptr):\n    tl.store(x_ptr, 0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path / "cache"))  # no block length kept yet
    cut = []
    real = inspect.getblock
    monkeypatch.setattr(inspect, "getblock", lambda lines: cut.append(lines[0]) or real(lines))
    mod = importlib.import_module("lazy_src_mod")
    try:
        assert cut == []
        path.write_text(path.read_text().replace("+ 1)", "+ 2)") + "\n# edited\n")
        x = np.arange(16, dtype=np.float32)
        mod.add_k[(1,)](x, BLOCK=16)
        np.testing.assert_array_equal(x, np.arange(16, dtype=np.float32) + 1)
        assert cut == ["@triton.jit\n"]  # add_k's block, once; unused_k's never
        assert mod.add_k.src.startswith("def add_k(x_ptr, BLOCK: tl.constexpr):\n") and "+ 1)" in mod.add_k.src
        assert mod.add_k.first_line == mod.add_k.starting_line_number == 6
        assert mod.unused_k.first_line == 12 and mod.unused_k.src == "def unused_k(x_ptr):\n    tl.store(x_ptr, 0)\n"
    finally:
        sys.modules.pop("lazy_src_mod", None)


def test_block_length_is_kept_on_disk_by_the_text_it_depends_on(tmp_path, monkeypatch):
    """cache.block_length: inspect.getblock's length once per text; a later
    call (a later process) reads it back; an edit below the block's start, a
    damaged entry or TRITON_METAL_DISABLE_CACHE=1 finds it again."""
    import inspect
    from triton_metal import cache
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TRITON_METAL_DISABLE_CACHE", raising=False)
    text = ('import triton_metal as triton\n\n\n@triton.jit(do_not_specialize=[\n    "n"])\n'
            'def k(x_ptr, n):\n    s = """a\nstring at column 0\n"""\n'
            '    tl.store(x_ptr,\n             n)\n    # a comment in the block\n\n'
            '# a comment at column 0\n\n\ndef after():\n    pass\n')
    lines = text.splitlines(True)
    i = 3
    calls = []

    def find(ls):
        calls.append(1)
        return inspect.getblock(ls)

    want = len(inspect.getblock(lines[i:]))
    block = "".join(lines[i:i + want])
    assert "column 0" in block and block.count("n)") == 2 and "after" not in block
    assert cache.block_length(lines, i, find) == want and len(calls) == 1
    assert cache.block_length(lines, i, find) == want and len(calls) == 1  # read back
    (entry,) = [p for p in (tmp_path / "cache" / "blocks").rglob("*") if p.is_file()]
    good = entry.read_bytes()
    n, check = good.split()
    assert n == str(want).encode() and len(check) == 64
    edited = lines[:-1] + ["    return 1\n"]  # below the block's start: another key
    assert cache.block_length(edited, i, find) == want and len(calls) == 2
    # damaged: out of range, garbled, empty, cut, or a plausible length whose check does not match
    for damage in (b"999999 " + check, b"0", b"x1", b"", b"-3", good[:-5], b"2 " + check, b"2"):
        entry.write_bytes(damage)
        assert cache.block_length(lines, i, find) == want
        assert entry.read_bytes() == good
    assert len(calls) == 10
    monkeypatch.setenv("TRITON_METAL_DISABLE_CACHE", "1")
    assert cache.block_length(lines, i, find) == want and len(calls) == 11


def test_kernel_defined_in_a_notebook_cell(tmp_path, monkeypatch):
    """A kernel whose source is only in the line cache, under a file name that
    is not on disk (what IPython and Jupyter do with a cell: the cell's text
    registered with no modification time) compiles from that text, as
    upstream's does in a notebook."""
    import linecache
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path / "cache"))
    text = ("@triton.jit\ndef cell_kernel(x_ptr, n, BLOCK: tl.constexpr):\n"
            "    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)\n"
            "    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) - 2.5, mask=offs < n)\n")
    name = str(tmp_path / "ipykernel_4242" / "1234567890.py")  # no such file
    linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    try:
        for run in range(2):  # the second: a new function from the same cell (block length from the cache)
            ns = {"triton": triton, "tl": tl}
            exec(compile(text, name, "exec"), ns)
            k = ns["cell_kernel"]
            x = np.linspace(-1, 1, 100).astype(np.float32)
            want = x - np.float32(2.5)
            k[(2,)](x, 100, BLOCK=64)
            np.testing.assert_array_equal(x, want)
            assert k.src == text.split("\n", 1)[1] and k.first_line == 2
    finally:
        linecache.cache.pop(name, None)


def test_kernel_without_source_is_refused_at_decoration():
    ns = {"triton": triton, "tl": tl}
    with pytest.raises(OSError, match="cannot read the source of made_by_exec"):
        exec("@triton.jit\ndef made_by_exec(x_ptr):\n    tl.store(x_ptr, 1)\n", ns)
