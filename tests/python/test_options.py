# test_options.py: launch options and @jit(...) defaults: validation with clear
# errors, metal_optimization_level / TRITON_METAL_OPT_LEVEL -> opt_level,
# debug_info, and both in the compile-cache keys.
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import options

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")


@triton.jit
def copy(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m), mask=m)


def launch(kernel=copy, **kw):
    x = np.arange(100, dtype=np.float32)
    y = np.zeros_like(x)
    k = kernel[(2,)](x, y, 100, BLOCK=64, **kw)
    np.testing.assert_array_equal(x, y)
    return k


@pytest.mark.parametrize("level,code", [
    ("none", options.OPT_NONE), ("basic", options.OPT_BASIC),
    ("standard", options.OPT_STANDARD), ("aggressive", options.OPT_AGGRESSIVE),
    ("experimental", options.OPT_AGGRESSIVE), ("auto", options.OPT_DEFAULT)])
def test_opt_level_mapping(level, code):
    assert launch(metal_optimization_level=level).metadata.opt_level == code


def test_opt_level_values_match_header():
    from triton_metal import _C
    assert (_C.OPT_DEFAULT, _C.OPT_NONE, _C.OPT_BASIC, _C.OPT_STANDARD, _C.OPT_AGGRESSIVE) == \
        (options.OPT_DEFAULT, options.OPT_NONE, options.OPT_BASIC, options.OPT_STANDARD,
         options.OPT_AGGRESSIVE)


@pytest.mark.parametrize("env,code", [("0", options.OPT_NONE), ("1", options.OPT_BASIC),
                                      ("2", options.OPT_STANDARD), ("3", options.OPT_AGGRESSIVE)])
def test_env_opt_level(monkeypatch, env, code):
    monkeypatch.setenv("TRITON_METAL_OPT_LEVEL", env)
    copy.cache.clear()
    copy.fast_cache.clear()
    assert launch().metadata.opt_level == code
    # the keyword wins over the environment
    assert launch(metal_optimization_level="basic").metadata.opt_level == options.OPT_BASIC


def test_env_opt_level_invalid(monkeypatch):
    monkeypatch.setenv("TRITON_METAL_OPT_LEVEL", "9")
    copy.fast_cache.clear()
    with pytest.raises(ValueError, match="TRITON_METAL_OPT_LEVEL must be 0, 1, 2 or 3"):
        launch()


def test_opt_level_and_debug_info_are_in_the_keys():
    a = launch(metal_optimization_level="none")
    b = launch(metal_optimization_level="aggressive")
    c = launch(metal_optimization_level="none", debug_info=True)
    assert len({a.hash, b.hash, c.hash}) == 3
    assert c.metadata.debug_info is True and a.metadata.debug_info is False
    assert launch(metal_optimization_level="none") is a


@pytest.mark.parametrize("kw,exc,msg", [
    ({"metal_optimization_level": "fast"}, ValueError,
     "metal_optimization_level must be one of none, basic, standard, aggressive"),
    ({"fusion_optimization": "max"}, ValueError,
     "fusion_optimization must be one of none, basic, hardware_specific, auto"),
    ({"memory_optimization": 3}, ValueError, "memory_optimization must be one of"),
    ({"debug_info": 1}, TypeError, "debug_info must be True or False"),
    ({"backend": "cuda"}, ValueError, "backend must be 'metal'"),
    ({"num_warps": 3}, ValueError, "num_warps must be a power of 2"),
    ({"num_warps": 64}, ValueError, "num_warps must be a power of 2 from 1 to 32"),
    ({"num_warps": 3}, AssertionError, "must be a power of 2"),
    ({"num_ctas": 2}, ValueError, "num_ctas must be 1 on Metal"),
    ({"num_stages": -1}, ValueError, "num_stages must be an int >= 0"),
    ({"maxnreg": 0}, ValueError, "maxnreg must be an int >= 1"),
    ({"enable_fp_fusion": "yes"}, TypeError, "enable_fp_fusion must be True or False"),
    ({"numwarps": 4}, KeyError, "Keyword argument numwarps was specified but unrecognised"),
])
def test_bad_options(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        launch(**kw)


def test_compat_options_accepted():
    k = launch(memory_optimization=True, fusion_optimization="basic", backend="metal",
               num_stages=4, num_ctas=1, maxnreg=128, enable_fp_fusion=False,
               matrix_instr_nonkdim=16, debug=False, instrumentation_mode="")
    assert k.metadata.memory_optimization == "auto"
    assert k.metadata.fusion_optimization == "basic"
    assert launch(memory_optimization="none").metadata.memory_optimization == "none"


def test_jit_defaults():
    @triton.jit(num_warps=2, metal_optimization_level="basic", debug_info=True)
    def copy2(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m), mask=m)

    k = launch(copy2)
    assert (k.metadata.num_warps, k.metadata.opt_level, k.metadata.debug_info) == \
        (2, options.OPT_BASIC, True)
    assert k.metadata.threads_per_threadgroup == 64
    k = launch(copy2, num_warps=4, metal_optimization_level="none")
    assert (k.metadata.num_warps, k.metadata.opt_level) == (4, options.OPT_NONE)


def test_jit_bad_defaults():
    with pytest.raises(ValueError, match="backend must be 'metal'"):
        @triton.jit(backend="cuda")
        def k1(x):
            pass
    with pytest.raises(KeyError, match="Keyword argument bogus"):
        @triton.jit(bogus=1)
        def k2(x):
            pass


# ------------------------------------------------------------ the README's claims
#
# README "Launch options": the optimization levels and the options accepted and
# ignored. Mutant these catch (tools/mutants, opt-levels): vectorization gated
# on level 3 only (src/layout.c), so that 2 and 3 differ and 2 loses vectors.

import os  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cli_msl(path, kernel, sig, defs, level, target="generic"):
    args = [str(ROOT / "build" / "triton-metal"), "compile", str(ROOT / path), "--kernel", kernel, "--signature", sig,
            "--target", target]
    for d in defs:
        args += ["-D", d]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, TRITON_METAL_OPT_LEVEL=str(level)))
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_opt_levels_differ_as_documented():
    add = [cli_msl("tests/golden/vector_add_aligned.py", "add_kernel", "*fp32:16,*fp32:16,*fp32:16,i32:16",
                   ["BLOCK_SIZE=1024"], lvl) for lvl in range(4)]
    mm = [cli_msl("tests/golden/matmul_simdgroup.py", "matmul", "*fp16,*fp16,*fp16,i32",
                  ["BLOCK_M=32", "BLOCK_N=32", "BLOCK_K=16"], lvl, "M3-Max") for lvl in range(4)]
    vec = "(device const float4*)"
    # 0: no vectors, no simdgroup_matrix
    assert vec not in add[0] and "simdgroup_multiply_accumulate" not in mm[0]
    # 1: simdgroup_matrix where the target has it, still no vectors
    assert vec not in add[1] and "simdgroup_multiply_accumulate" in mm[1] and add[1] == add[0]
    # 2: vectors
    assert vec in add[2]
    # 2 and 3: one level
    assert add[2] == add[3] and mm[2] == mm[3]
    readme = (ROOT / "README.md").read_text()
    assert "| `2` standard, `3` aggressive |" in readme and "The two levels emit the same code today" in readme


IGNORED = {"num_stages": 1, "maxnreg": 32, "enable_fp_fusion": False, "memory_optimization": "none",
           "fusion_optimization": "none", "extern_libs": {"libdevice": "/nowhere/libdevice.bc"}, "launch_pdl": True,
           "sanitize_overflow": False, "matrix_instr_nonkdim": 16, "kpack": 2, "waves_per_eu": 2,
           "instrumentation_mode": "fpsan"}


@triton.jit
def fma_like(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    s = tl.zeros((BLOCK,), tl.float32)
    for i in range(4):
        s = s * x + 1.5
    tl.store(y_ptr + offs, s + (offs * 7 + 3).to(tl.float32), mask=m)


def test_ignored_options_change_nothing():
    x = np.linspace(-2, 2, 100, dtype=np.float32)
    y = np.zeros_like(x)
    base = fma_like.warmup(x, y, 100, BLOCK=64, grid=(2,)).asm["msl"]
    readme = (ROOT / "README.md").read_text()
    ignored = readme[readme.index("Accepted and ignored"):readme.index("## How it works")]
    for name, value in IGNORED.items():
        assert f"`{name}`" in ignored, name
        k = fma_like.warmup(x, y, 100, BLOCK=64, grid=(2,), **{name: value})
        assert k.asm["msl"] == base, name
    assert "fma(" not in base  # enable_fp_fusion: nothing fused
