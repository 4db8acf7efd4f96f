# test_compat.py: `import triton` compatibility: install(), the TRITON_BACKEND=metal
# startup hook (triton-metal.pth), the runtime/driver namespace, and upstream
# @triton.jit functions handed to triton_metal.jit.
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

import triton_metal
import triton_metal.language as tl

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "python"))
SCRIPT = os.path.join(HERE, "compat_scripts", "upstream_style.py")

needs_c = pytest.mark.skipif(
    not hasattr(triton_metal, "CompilationError") or "_C_IMPORT_ERROR" in vars(triton_metal),
    reason="triton_metal._C is not built")


def upstream_present():
    import importlib.util
    return sys.modules.get("triton") not in (None, triton_metal) or (
        "triton" not in sys.modules and importlib.util.find_spec("triton") is not None)


def run(code_or_path, env_extra=None, sitedir=None):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, **(env_extra or {}))
    env.pop("TRITON_BACKEND", None)
    env.update(env_extra or {})
    if sitedir:
        pre = f"import site; site.addsitedir({sitedir!r}); "
        cmd = [sys.executable, "-c", pre + f"exec(compile(open({code_or_path!r}).read(), "
               f"{code_or_path!r}, 'exec'))"]
    elif code_or_path.endswith(".py"):
        cmd = [sys.executable, code_or_path]
    else:
        cmd = [sys.executable, "-c", code_or_path]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@needs_c
@pytest.mark.skipif(upstream_present(), reason="upstream triton is installed")
def test_unchanged_script_through_install(tmp_path):
    code = (f"import triton_metal; assert triton_metal.install(); "
            f"exec(compile(open({SCRIPT!r}).read(), {SCRIPT!r}, 'exec'))")
    p = run(code, {"TRITON_METAL_CACHE_DIR": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    assert "UPSTREAM-STYLE OK triton triton.language" in p.stdout


@needs_c
@pytest.mark.skipif(upstream_present(), reason="upstream triton is installed")
def test_startup_hook_with_triton_backend_env(tmp_path):
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    shutil.copy(os.path.join(PYTHON_DIR, "triton-metal.pth"), site_dir)
    p = run(SCRIPT, {"TRITON_BACKEND": "metal", "TRITON_METAL_CACHE_DIR": str(tmp_path)},
            sitedir=str(site_dir))
    assert p.returncode == 0, p.stderr
    assert "UPSTREAM-STYLE OK" in p.stdout
    # without the variable the hook imports nothing of ours, and `import triton`
    # still finds our tree because no other Triton is installed (the fallback finder)
    p = run("import site, sys; site.addsitedir(%r); print('triton_metal' in sys.modules); "
            "import triton; print(triton.__file__, triton.__version__)" % str(site_dir))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("False") and "_triton" in p.stdout and "3." in p.stdout


@needs_c
@pytest.mark.skipif(upstream_present(), reason="upstream triton is installed")
def test_startup_hook_leaves_another_triton_first(tmp_path):
    # a stand-in "upstream" triton on sys.path wins over the fallback finder...
    site_dir = tmp_path / "site"
    (tmp_path / "other" / "triton").mkdir(parents=True)
    (tmp_path / "other" / "triton" / "__init__.py").write_text("WHO = 'other'\n")
    site_dir.mkdir()
    shutil.copy(os.path.join(PYTHON_DIR, "triton-metal.pth"), site_dir)
    code = ("import site, sys; site.addsitedir(%r); sys.path.insert(0, %r); import triton; "
            "print(getattr(triton, 'WHO', 'ours'))" % (str(site_dir), str(tmp_path / "other")))
    p = run(code)
    assert p.returncode == 0 and p.stdout.strip() == "other", p.stderr
    # ...unless TRITON_BACKEND=metal asks for ours
    p = run(code, {"TRITON_BACKEND": "metal"})
    assert p.returncode == 0 and p.stdout.strip() == "ours", p.stderr


@pytest.mark.skipif(upstream_present(), reason="upstream triton is installed")
def test_install_registers_modules_and_uninstall():
    try:
        assert triton_metal.install()
        import triton
        import triton.language as tl2
        from triton.runtime import driver
        # `triton` is a package of its own in upstream's layout, re-exporting ours
        assert triton is not triton_metal and triton.__name__ == "triton"
        assert triton.__version__.startswith("3.") and triton_metal.__version__ == "0.1.0"
        assert triton.jit is triton_metal.jit and tl2.float32 is tl.float32 and tl2.load is tl.load
        import triton.language.extra.libdevice as ld
        assert ld.tanh is tl.extra.libdevice.tanh
        assert ld.isfinited is tl.extra.libdevice.isfinited  # float64-only, named as upstream
        import triton.language.core as core
        assert core.get_int_dtype(16, False) is tl.uint16 and core.get_int_dtype(64, True) is tl.int64
        assert core.get_int_dtype(1, True) is tl.int1
        with pytest.raises(ValueError, match="Unsupported bitwidth 12"):
            core.get_int_dtype(12, True)
        assert "metal" in triton.runtime.backends and "metal" in sys.modules[
            "triton.backends"].backends
        assert hasattr(sys.modules["triton.backends"], "__path__")  # a package
        # the target names the torch device our tensors live on
        assert driver.active.get_current_target().backend == (
            "mps" if triton_metal.get_device().name == "metal" else "cpu")
        # attributes set on a module are seen by every importer
        import triton.runtime.jit as rj
        rj._tm_probe = 1
        from triton.runtime import jit as rj2
        assert rj2._tm_probe == 1
        from triton.runtime.jit import JITFunction
        from triton.compiler.errors import CompilationError
        assert JITFunction is triton_metal.JITFunction
        assert CompilationError is triton_metal.CompilationError
        assert triton_metal.install()  # idempotent
    finally:
        triton_metal.uninstall()
    assert "triton" not in sys.modules and "triton.language" not in sys.modules


def test_install_leaves_upstream_alone(monkeypatch):
    fake = types.ModuleType("triton")
    monkeypatch.setitem(sys.modules, "triton", fake)
    with pytest.warns(RuntimeWarning, match="upstream Triton is installed"):
        assert triton_metal.install() is False
    assert sys.modules["triton"] is fake


def _fake_upstream_jit(fn):
    """An object shaped as upstream's triton.runtime.jit.JITFunction."""
    cls = type("JITFunction", (), {"__module__": "triton.runtime.jit"})
    obj = cls()
    obj.fn = fn
    return obj


def upstream_style_kernel(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, offs * 2.0, mask=offs < n)


@needs_c
def test_jit_accepts_upstream_jit_function():
    k = triton_metal.jit(_fake_upstream_jit(upstream_style_kernel))
    assert k.fn is upstream_style_kernel
    x = np.zeros(10, np.float32)
    k[(1,)](x, 10, BLOCK=16)
    np.testing.assert_array_equal(x, np.arange(10) * 2.0)


@needs_c
def test_jit_accepts_real_upstream_kernel():
    triton = pytest.importorskip("triton", reason="upstream triton is not installed")
    if triton is triton_metal:
        pytest.skip("triton is triton_metal here")
    import triton.language as utl

    @triton.jit
    def k(x_ptr, n, BLOCK: utl.constexpr):
        offs = utl.arange(0, BLOCK)
        utl.store(x_ptr + offs, offs * 2.0, mask=offs < n)

    x = np.zeros(10, np.float32)
    triton_metal.jit(k)[(1,)](x, 10, BLOCK=16)
    np.testing.assert_array_equal(x, np.arange(10) * 2.0)


def test_tensor_descriptor_host_side():
    d = triton_metal.TensorDescriptor.from_tensor(np.zeros((8, 4), np.float16), [8, 4])
    assert d.shape == [8, 4] and d.strides == [4, 1] and d.block_shape == [8, 4]
    with pytest.raises(ValueError, match="powers of two"):
        triton_metal.TensorDescriptor.from_tensor(np.zeros((8, 4)), [8, 3])
    with pytest.raises(ValueError, match="contiguous"):
        triton_metal.TensorDescriptor(None, [8, 4], [1, 8], [8, 4])


def test_constexpr_function_and_helpers():
    @triton_metal.constexpr_function
    def twice(x):
        return 2 * x
    assert twice(4) == 8 and twice._tm_constexpr_function
    assert triton_metal.cdiv(9, 4) == 3
    assert triton_metal.next_power_of_2(-3) == 0
