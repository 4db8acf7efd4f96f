"""The cuda device (runtime/cuda/cuda.c, docs/cuda-proxy.md) from Python.

On a machine where the cuda device opens (an NVIDIA GPU and its driver, nvcc):
vector add and fused softmax (examples/) compiled for cuda-sm90 and run on
the GPU with NumPy arrays and with torch CUDA tensors, against NumPy
references, in a subprocess with TRITON_METAL_HW=cuda-sm90
TRITON_METAL_DEVICE=cuda. Elsewhere those tests skip, saying why.

Without a GPU the Python launch path still runs end to end over
tests/unit/fake/libcuda.c (a stand-in driver on host memory that runs a host
implementation of the kernel `proxy_axpy` under its name) when nvcc and a C
compiler are there: our compiler's CUDA C++ goes through nvcc and the runtime
to the fake driver, with NumPy arrays (staged, waited for) and with fake torch
CUDA tensors (bound as device pointers at their offsets, not waited for).
A torch CUDA tensor on another device is refused in-process (a fake tensor:
no CUDA needed)."""
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYDIR = ROOT / "python"
FAKE_SRC = ROOT / "tests" / "unit" / "fake" / "libcuda.c"


@triton.jit
def proxy_axpy(out_ptr, x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    tl.store(out_ptr + offs, a * x + y, mask=m)


class _Dtype:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return f"torch.{self.name}"


class FakeCudaTensor:
    """What interop._torch (and the C launch path, launcher.c cuda_tensor_arg)
    reads of a torch tensor on 'cuda': float32 elements at a device address,
    `offset` elements into their storage."""
    FLOAT32 = _Dtype("float32")
    is_cpu = False
    is_cuda = True

    def __init__(self, ptr, n, offset=0, storage_elems=None, index=0):
        self.ptr, self.n, self.offset = ptr, n, offset
        self.storage_elems = storage_elems if storage_elems is not None else n + offset
        self.dtype = self.FLOAT32
        self.device = types.SimpleNamespace(type="cuda", index=index)

    def get_device(self):
        return self.device.index

    def numel(self):
        return self.n

    def element_size(self):
        return 4

    def is_contiguous(self):
        return True

    def untyped_storage(self):
        return types.SimpleNamespace(data_ptr=lambda: self.ptr,
                                     nbytes=lambda: self.storage_elems * 4)

    def storage_offset(self):
        return self.offset

    def data_ptr(self):
        return self.ptr + self.offset * 4


FakeCudaTensor.__module__ = "torch"


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PYDIR) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(TRITON_METAL_HW="cuda-sm90", TRITON_METAL_DEVICE="cuda", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def _run(script, tmp_path, env, timeout=600):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    r = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True,
                       timeout=timeout, cwd=str(tmp_path))
    assert r.returncode == 0, f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    return r.stdout


# ------------------------------------------------------------ refusals, no CUDA needed

def test_cuda_tensor_is_refused_off_the_cuda_device():
    from triton_metal.jit import get_device
    dev = get_device().name
    if dev == "cuda":
        pytest.skip("the process's device is cuda")
    x = np.zeros(64, np.float32)
    t = FakeCudaTensor(0x7f0000000000, 64)
    with pytest.raises(TypeError, match=rf"argument 'x_ptr' is a torch CUDA tensor, but the "
                                        rf"device is '{dev}'.*TRITON_METAL_DEVICE=cuda"):
        proxy_axpy[(1,)](x, t, x, 1.0, 64, BLOCK=64, num_warps=2)


def test_cuda_tensor_on_another_gpu_is_refused():
    from triton_metal import interop
    with pytest.raises(interop.InteropError, match=r"on cuda:0 \(CUDA_VISIBLE_DEVICES"):
        interop.describe(FakeCudaTensor(0x7f0000000000, 64, index=1), "x")


def test_cuda_tensor_view():
    from triton_metal import interop
    v = interop.describe(FakeCudaTensor(0x7f0000001000, 10, offset=3, storage_elems=20), "x")
    assert (v.kind, v.buffer, v.offset, v.before, v.after, v.nbytes) == \
        ("torch_cuda", 0x7f0000001000, 12, 12, 68, 40)
    assert v.on_device and v.stream_ordered and v.sync_before is None


# ------------------------------------------------------------ the fake driver

def _nvcc():
    e = os.environ.get("TRITON_METAL_NVCC")
    if e:
        return shutil.which(e)
    return shutil.which("nvcc") or (
        "/usr/local/cuda/bin/nvcc" if os.access("/usr/local/cuda/bin/nvcc", os.X_OK) else None)


@pytest.fixture(scope="module")
def fake_driver(tmp_path_factory):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not _nvcc():
        pytest.skip("no nvcc: the cuda device compiles kernels with it")
    if not cc or not FAKE_SRC.exists():
        pytest.skip("no C compiler to build tests/unit/fake/libcuda.c")
    lib = tmp_path_factory.mktemp("fakecuda") / "libcuda-fake.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(lib), str(FAKE_SRC)], check=True)
    return str(lib)


FAKE_SCRIPT = """
    import ctypes, sys, types
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_cuda_device import proxy_axpy, FakeCudaTensor
    from triton_metal.jit import get_device

    dev = get_device()
    assert dev.name == "cuda", dev.name
    print(dev.description)
    N, BLOCK = 1000, 64
    grid = ((N + BLOCK - 1) // BLOCK,)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N).astype(np.float32)
    y = rng.standard_normal(N).astype(np.float32)

    # NumPy arrays: staged, the launch waits, results copied back
    out = np.zeros(N, np.float32)
    s0 = dev.stats()
    proxy_axpy[grid](out, x, y, 2.0, N, BLOCK=BLOCK, num_warps=2)
    np.testing.assert_allclose(out, 2 * x + y, rtol=1e-6)
    s1 = dev.stats()
    assert s1["waits"] == s0["waits"] + 1 and s1["staged_args"] == s0["staged_args"] + 3, (s0, s1)

    # (fake) torch CUDA tensors over device-mapped memory: bound at their
    # offsets as device pointers; the launch is queued, not waited for
    def device_array(values, offset):
        buf, contents = dev.buffer_new((len(values) + offset) * 4)
        a = np.frombuffer((ctypes.c_char * ((len(values) + offset) * 4)).from_address(contents),
                          np.float32)
        a[:] = -7
        a[offset:] = values
        return FakeCudaTensor(buf, len(values), offset=offset), a
    xt, _ = device_array(x, 5)
    yt, _ = device_array(y, 0)
    ot, oa = device_array(np.zeros(N, np.float32), 3)
    proxy_axpy[grid](ot, xt, yt, 2.0, N, BLOCK=BLOCK, num_warps=2)
    s2 = dev.stats()
    assert s2["waits"] == s1["waits"] and s2["staged_args"] == s1["staged_args"], (s1, s2)
    assert s2["dispatches"] == s1["dispatches"] + 1
    dev.synchronize()
    np.testing.assert_allclose(oa[3:], 2 * x + y, rtol=1e-6)
    assert (oa[:3] == -7).all()

    # mixed: a NumPy output with device inputs waits (its results are read at once)
    out = np.zeros(N, np.float32)
    proxy_axpy[grid](out, xt, yt, 0.5, N, BLOCK=BLOCK, num_warps=2)
    np.testing.assert_allclose(out, 0.5 * x + y, rtol=1e-6)

    # the C launch path (launcher.c) takes CUDA tensors once their type is
    # registered (jit.py registers torch.Tensor when torch is imported): the
    # first launch of a key goes through Python, the next ones do not, and
    # they are bound at their offsets without waiting, as the Python path
    from triton_metal import _C, _tm
    _C.set_pointer_types(FakeCudaTensor, {{FakeCudaTensor.FLOAT32: _tm.F32}})
    slow = []
    slow_run = proxy_axpy._slow_run
    proxy_axpy._slow_run = lambda *a: slow.append(a[3]) or slow_run(*a)
    proxy_axpy.fast_cache.clear()
    s3 = dev.stats()
    for a in (3.0, 4.0, 5.0):
        proxy_axpy[grid](ot, xt, yt, a, N, BLOCK=BLOCK, num_warps=2)
    assert len(slow) == 1, slow
    s4 = dev.stats()
    assert s4["waits"] == s3["waits"] and s4["dispatches"] == s3["dispatches"] + 3, (s3, s4)
    dev.synchronize()
    np.testing.assert_allclose(oa[3:], 5.0 * x + y, rtol=1e-6)
    assert (oa[:3] == -7).all()
    key = slow[0]
    codes = [c for c in key if isinstance(c, int) and c >= 1024]  # device pointers
    # out, x and y start 3, 5 and 0 elements into their buffers: only y is
    # 16-byte aligned (bit 2 of the code, as the Python path's DIV16)
    assert [c & 2 for c in codes] == [0, 0, 2], key
    # a 16-byte aligned x (offset 4 elements) is another key: specialized apart
    xa, _ = device_array(x, 4)
    proxy_axpy[grid](ot, xa, yt, 1.0, N, BLOCK=BLOCK, num_warps=2)
    proxy_axpy[grid](ot, xa, yt, 1.0, N, BLOCK=BLOCK, num_warps=2)
    assert len(slow) == 2 and slow[1] != key, slow
    dev.synchronize()
    np.testing.assert_allclose(oa[3:], x + y, rtol=1e-6)
    # an in-place call (out is x's storage) is keyed as aliasing, as jit._overlapping
    proxy_axpy[grid](xt, xt, yt, 1.0, N, BLOCK=BLOCK, num_warps=2)
    assert len(slow) == 3 and any(isinstance(c, str) and "aliasing" in c for c in slow[2]), slow
    # a NumPy array and a CUDA tensor never alias
    proxy_axpy[grid](ot, x, yt, 1.0, N, BLOCK=BLOCK, num_warps=2)
    assert not any(isinstance(c, str) and "aliasing" in c for c in slow[-1]), slow
    dev.synchronize()
    print("fake driver: OK")
"""


def test_launch_path_over_the_fake_driver(fake_driver, tmp_path):
    out = _run(FAKE_SCRIPT.format(tests=str(pathlib.Path(__file__).parent)), tmp_path,
               _env(TRITON_METAL_LIBCUDA=fake_driver))
    assert "Fake GPU" in out and "fake driver: OK" in out


# ------------------------------------------------------------ the real GPU

@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    """Skips unless the cuda device opens in a fresh process (the probe does
    not initialize CUDA in this one)."""
    env = _env()
    env.pop("TRITON_METAL_LIBCUDA", None)
    r = subprocess.run([sys.executable, "-c", "from triton_metal import _C; "
                        "print(_C.Device('cuda').description)"],
                       env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines()
        pytest.skip(f"the cuda device does not open here: {lines[-1] if lines else r.returncode}")
    return env


GPU_SCRIPT = """
    import sys
    import numpy as np
    sys.path.insert(0, {examples!r})
    from vector_add import add_kernel
    from softmax import softmax_kernel, softmax_reference
    import triton_metal as triton
    from triton_metal.jit import get_device

    dev = get_device()
    assert dev.name == "cuda", dev.name
    print(dev.description)
    rng = np.random.default_rng(0)

    # vector add, NumPy
    n = 1_000_003
    grid = (triton.cdiv(n, 1024),)
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    out = np.empty_like(x)
    add_kernel[grid](x, y, out, n, BLOCK_SIZE=1024)
    assert np.array_equal(out, x + y), "vector add (NumPy) differs"
    print("vector add, NumPy: OK")

    # fused softmax, NumPy (a persistent kernel: fewer programs than rows)
    rows, cols = 1823, 781
    s = (rng.standard_normal((rows, cols)) * 4).astype(np.float32)
    want = softmax_reference(s)
    sout = np.empty_like(s)
    softmax_kernel[(132,)](sout, s, cols, cols, rows, cols, BLOCK_COLS=1024, NUM_STAGES=2,
                           num_warps=4)
    np.testing.assert_allclose(sout, want, rtol=1e-5, atol=1e-6)
    print("softmax, NumPy: OK")

    try:
        import torch
    except ImportError:
        print("torch: not installed")
        sys.exit(0)
    assert torch.cuda.is_available()
    # vector add, torch CUDA tensors; the output a view 5 elements into its storage
    xt, yt = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    whole = torch.full((n + 5,), -7.0, device="cuda")
    ot = whole[5:]
    w0 = dev.stats()["waits"]
    add_kernel[grid](xt, yt, ot, n, BLOCK_SIZE=1024)
    assert dev.stats()["waits"] == w0, "a launch over CUDA tensors waited"
    torch.cuda.synchronize()
    assert np.array_equal(ot.cpu().numpy(), x + y), "vector add (torch) differs"
    assert (whole[:5].cpu().numpy() == -7).all()
    # timed by torch's CUDA events on the default stream
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        add_kernel[grid](xt, yt, ot, n, BLOCK_SIZE=1024)
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / 10
    print(f"vector add, torch: OK ({{ms * 1e3:.1f}} us per launch, "
          f"{{3 * 4 * n / ms / 1e6:.0f}} GB/s by CUDA events)")
    # fused softmax, torch
    st = torch.from_numpy(s).cuda()
    so = torch.empty_like(st)
    softmax_kernel[(132,)](so, st, cols, cols, rows, cols, BLOCK_COLS=1024, NUM_STAGES=2,
                           num_warps=4)
    torch.cuda.synchronize()
    np.testing.assert_allclose(so.cpu().numpy(), want, rtol=1e-5, atol=1e-6)
    print("softmax, torch: OK")
"""


def test_vector_add_and_softmax_on_the_gpu(gpu, tmp_path):
    out = _run(GPU_SCRIPT.format(examples=str(ROOT / "examples")), tmp_path, gpu)
    print(out)
    assert "softmax, NumPy: OK" in out
