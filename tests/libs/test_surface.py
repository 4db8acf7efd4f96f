# test_surface.py: the parts of `triton` that libraries and torch reach into,
# as Liger-Kernel, flash-linear-attention, torch._dynamo/Inductor and
# transformers use them (issue 14): the version, the target's torch device, the
# module tree's identity, torch and transformers importing beside our triton,
# torch.compile, the triton-metal console script, and real MLX arrays.
import importlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import triton_metal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PYTHON_DIR = os.path.join(ROOT, "python")

needs_c = pytest.mark.skipif("_C_IMPORT_ERROR" in vars(triton_metal),
                             reason="triton_metal._C is not built")


def upstream_present():
    import importlib.util
    m = sys.modules.get("triton")
    if m is not None:
        return not os.path.abspath(getattr(m, "__file__", "")).startswith(PYTHON_DIR)
    spec = importlib.util.find_spec("triton")
    return spec is not None and not (spec.origin or "").startswith(PYTHON_DIR)


pytestmark = pytest.mark.skipif(upstream_present(), reason="upstream triton is installed")


@pytest.fixture
def triton():
    """`import triton` under install(), undone afterwards."""
    triton_metal.install()
    import triton as t
    yield t
    triton_metal.uninstall()


def run_python(code, env_extra=None, timeout=600):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, TRITON_METAL_DEVICE="cpu")
    env.pop("TRITON_BACKEND", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_version_is_the_upstream_api_level(triton):
    assert triton.__version__ == triton_metal.TRITON_API_VERSION
    major, minor = (int(v) for v in triton.__version__.split(".")[:2])
    assert (major, minor) >= (3, 0)  # libraries branch on >= 3.0
    assert triton_metal.__version__ != triton.__version__


@needs_c
def test_target_backend_names_the_torch_device(triton):
    target = triton.runtime.driver.active.get_current_target()
    dev = triton_metal.get_device().name
    assert target.backend == ("mps" if dev == "metal" else "cpu")
    assert target.warp_size == 32
    torch = pytest.importorskip("torch")
    assert getattr(torch, target.backend) is not None  # getattr(torch, backend), as fla does
    assert triton.runtime.driver.active.get_active_torch_device() == torch.device(target.backend)
    torch.amp.custom_fwd(device_type=target.backend)  # Liger/fla's decorator accepts it


def test_submodules_are_the_packages_own(triton):
    """Every triton.X.Y attribute is the module `import triton.X.Y` gives, before
    anything imported the submodule by name (torch inspects triton.language.core)."""
    for name in ["triton.language.core", "triton.language.standard", "triton.language.math",
                 "triton.language.random", "triton.language.extra", "triton.runtime.jit",
                 "triton.runtime.autotuner", "triton.compiler.compiler", "triton.backends.compiler",
                 "triton.testing", "triton.knobs", "triton.tools.tensor_descriptor"]:
        parent, _, leaf = name.rpartition(".")
        obj = getattr(importlib.import_module(parent), leaf)
        assert obj is importlib.import_module(name), name
        assert obj.__name__ == name
    assert callable(triton.language.core.view)
    assert triton.KernelInterface is triton.runtime.jit.KernelInterface
    assert issubclass(triton.runtime.autotuner.Autotuner, triton.KernelInterface)


def test_torch_dynamo_and_transformers_import_with_triton_backend_metal():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    code = ("import site; site.addsitedir(%r)\n"  # runs triton-metal.pth, the startup hook
            "import torch._dynamo, transformers\n"
            "from transformers import PreTrainedModel\n"
            "import triton, torch.utils._triton as tu\n"
            "assert triton.__file__.startswith(%r), triton.__file__\n"
            "from torch._inductor.runtime import triton_compat\n"
            "assert triton_compat.HAS_TRITON\n"
            # no Inductor Triton kernels for devices we do not serve ('cpu' is
            # not in triton.backends.backends; mps is not one torch asks about)
            "print('has_triton', tu.has_triton())\n") % (PYTHON_DIR, PYTHON_DIR)
    p = run_python(code, {"TRITON_BACKEND": "metal"})
    assert p.returncode == 0, p.stderr[-3000:]
    assert "has_triton False" in p.stdout


@needs_c
def test_torch_compile_after_install(tmp_path):
    pytest.importorskip("torch")
    code = ("import triton_metal; assert triton_metal.install()\n"
            "import torch\n"
            "@torch.compile\n"
            "def f(x, y):\n"
            "    return torch.sin(x) * y + x.sum()\n"
            "x, y = torch.randn(37), torch.randn(37)\n"
            "want = (torch.sin(x.double()) * y.double() + x.double().sum()).float()\n"
            "torch.testing.assert_close(f(x, y), want, rtol=1e-5, atol=1e-5)\n"
            "print('compiled ok')\n")
    p = run_python(code, {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path)})
    assert p.returncode == 0, p.stderr[-3000:]
    assert "compiled ok" in p.stdout


KERNELS_UNDER_COMPILE = """
import warnings
import triton_metal; assert triton_metal.install()
import torch, triton, triton.language as tl

@triton.jit
def add_one(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + i, tl.load(x_ptr + i, mask=i < n) + 1, mask=i < n)

@triton.autotune(configs=[triton.Config({"BLOCK": 32}), triton.Config({"BLOCK": 64})], key=["n"])
@triton.heuristics({"EVEN": lambda a: a["n"] % a["BLOCK"] == 0})
@triton.jit
def add_two(x_ptr, out_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    if EVEN:
        tl.store(out_ptr + i, tl.load(x_ptr + i) + 2)
    else:
        tl.store(out_ptr + i, tl.load(x_ptr + i, mask=i < n) + 2, mask=i < n)

@torch.compile
def f(x):
    a = torch.empty_like(x)
    add_one[(triton.cdiv(x.numel(), 64),)](x, a, x.numel(), BLOCK=64)
    b = torch.empty_like(x)
    add_two[lambda m: (triton.cdiv(x.numel(), m["BLOCK"]),)](a * 3, b, x.numel())
    return b - 1

with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    for n in (100, 100, 256, 37):
        x = torch.randn(n)
        x[::7] = float("nan")
        torch.testing.assert_close(f(x), (x + 1) * 3 + 1, equal_nan=True)
print("warnings", len(w), [str(m.message)[:120] for m in w])
"""


@needs_c
def test_our_kernels_inside_torch_compile(tmp_path):
    """A launch (plain, and autotuned with heuristics) inside a compiled
    function is one graph break: right results, and no warning from Dynamo
    tracing our launch path (jit.py _under_dynamo)."""
    pytest.importorskip("torch")
    script = tmp_path / "under_compile.py"  # kernels are compiled from their source file
    script.write_text(KERNELS_UNDER_COMPILE)
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, TRITON_METAL_DEVICE="cpu",
               TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "inductor"))
    env.pop("TRITON_BACKEND", None)
    p = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "warnings 0 []" in p.stdout, p.stdout[-3000:]


def test_console_script_runs_the_cli():
    from triton_metal import _cli
    if _cli.executable() is None:
        pytest.skip("the triton-metal executable is not built (make, or pip install)")
    p = subprocess.run([sys.executable, "-m", "triton_metal._cli", "version"],
                       env=dict(os.environ, PYTHONPATH=PYTHON_DIR), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("triton-metal ")


def test_pyproject_declares_the_console_script_and_hook():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert re.search(r'^triton-metal = "triton_metal._cli:main"$', text, re.M)
    assert "triton-metal.pth" in open(os.path.join(ROOT, "setup.py")).read()


# ---- MLX arrays (pip install "mlx[cpu]" on Linux: CPU arrays with DLPack)

def run_readme_block(tmp_path, pick):
    """Runs the README's first ```python block for which pick(text) holds, as a
    user would: saved as a script (kernels' source is read from their file)."""
    import runpy
    blocks = re.findall(r"```python\n(.*?)```", open(os.path.join(ROOT, "README.md")).read(), re.S)
    script = tmp_path / "readme_example.py"
    script.write_text(next(b for b in blocks if pick(b)))
    return runpy.run_path(str(script))


@needs_c
def test_readme_seed_example_verbatim(tmp_path):
    ns = run_readme_block(tmp_path, lambda b: "add_kernel" in b)
    np.testing.assert_array_equal(ns["out"], ns["x"] + ns["y"])


@needs_c
def test_readme_mlx_example_verbatim(tmp_path):
    mx = pytest.importorskip("mlx.core")
    ns = run_readme_block(tmp_path, lambda b: "mlx.core" in b)
    x, y = np.array(ns["x"]).astype(np.float64), np.array(ns["y"]).astype(np.float64)
    err = np.abs(np.array(ns["out"]) - (2.5 * x + y))
    assert (err <= 2 * np.finfo(np.float32).eps * (2.5 * np.abs(x) + np.abs(y))).all()
    assert isinstance(ns["out"], mx.array)


@needs_c
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int32"])
def test_mlx_arrays(dtype):
    mx = pytest.importorskip("mlx.core")
    import triton_metal.language as tl

    @triton_metal.jit
    def axpb(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m)
        tl.store(out_ptr + offs, x * 3 - 1, mask=m)

    n = 1000 + 37  # not a multiple of the block
    rng = np.random.default_rng(7)
    src = rng.integers(-50, 50, n).astype(np.float32)
    x = mx.array(src).astype(getattr(mx, dtype)) * 1  # lazy: interop evaluates it
    out = mx.zeros((n,), dtype=getattr(mx, dtype))
    axpb[(triton_metal.cdiv(n, 256),)](x, out, n, BLOCK=256)
    got = np.array(out.astype(mx.float32))
    np.testing.assert_array_equal(got, src * 3 - 1)  # small integers: exact in every dtype


@needs_c
def test_mlx_refusals():
    mx = pytest.importorskip("mlx.core")
    import triton_metal.language as tl

    @triton_metal.jit
    def copy(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m), mask=m)

    # float64 memory: refused where the kernel reads it (Metal has no double)
    with pytest.raises(triton_metal.CompilationError, match="float64"):
        copy[(1,)](mx.ones((8,), dtype=mx.float64), mx.zeros((8,), dtype=mx.float64), 8, BLOCK=8)
    # a strided view is passed by its data pointer, as upstream passes views: the
    # kernel uses the strides it is given (here 1, so it reads the view's storage)
    base = mx.arange(16.0)
    out = mx.zeros((8,))
    copy[(1,)](base[2::2], out, 8, BLOCK=8)
    import numpy as np
    np.testing.assert_array_equal(np.array(out), np.arange(2.0, 10.0, dtype=np.float32))
