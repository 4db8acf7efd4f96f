# test_flaggems.py: FlagGems (pip install --no-deps flag-gems), unedited, on
# triton-metal: torch ops through flag_gems.use_gems() on CPU tensors, against
# float64 references computed here with torch (random data with negatives, NaN
# and inf where the op defines them, sizes that are not powers of two). A
# bounded subset, one test per compiler feature FlagGems first met here: the full
# run of FlagGems' own test files is `tools/libraries/run.py flaggems`.
#
# FlagGems has no CPU vendor it can select (its `arm` backend, device "cpu", is
# missing from its vendor list) and asks torch.cpu for two GPU-module calls:
# tools/libraries/flaggems_device.py supplies them; here its pieces are applied
# for this module only (torch.cpu is put back afterwards).
import importlib.util
import os
import pathlib
import sys

import pytest

import triton_metal

torch = pytest.importorskip("torch")
if importlib.util.find_spec("flag_gems") is None:
    pytest.skip("flag-gems is not installed (pip install --no-deps flag-gems; tools/setup.sh does)",
                allow_module_level=True)
if "_C_IMPORT_ERROR" in vars(triton_metal):
    pytest.skip("triton_metal._C is not built", allow_module_level=True)
if sys.modules.get("triton") is not None and not triton_metal.compat.installed():
    pytest.skip("upstream triton is imported in this process", allow_module_level=True)

TOOLS = pathlib.Path(__file__).resolve().parents[2] / "tools" / "libraries"


@pytest.fixture(scope="module")
def gems():
    if not triton_metal.install():
        pytest.skip("upstream triton is installed")
    os.environ.setdefault("TRITON_METAL_DEVICE", "cpu")
    saved = {k: getattr(torch.cpu, k) for k in ("current_device", "device") if hasattr(torch.cpu, k)}
    saved_vendor = os.environ.get("GEMS_VENDOR")
    spec = importlib.util.spec_from_file_location("flaggems_device", TOOLS / "flaggems_device.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)      # the vendor list with arm, GEMS_VENDOR=arm, torch.cpu's two calls
    import flag_gems
    assert flag_gems.device == "cpu" and flag_gems.vendor_name == "arm"
    yield flag_gems
    for k in ("current_device", "device"):
        if k in saved:
            setattr(torch.cpu, k, saved[k])
        elif hasattr(torch.cpu, k):
            delattr(torch.cpu, k)
    if saved_vendor is None:
        os.environ.pop("GEMS_VENDOR", None)
    else:
        os.environ["GEMS_VENDOR"] = saved_vendor
    triton_metal.uninstall()


def gen(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


@pytest.mark.parametrize("N,C,H,W,G", [(16, 3, 16, 16, 1), (1, 4, 16, 16, 1), (3, 8, 5, 7, 4), (2, 64, 4, 4, 16)])
def test_group_norm(gems, N, C, H, W, G):
    # a whole-block mean after per-row partial sums: reductions of different
    # widths per thread in one kernel (a held-back barrier's scratch range)
    x, w, b = gen(N, C, H, W, seed=1, scale=3.0), gen(C, seed=2), gen(C, seed=3)
    want = torch.nn.functional.group_norm(x, G, w, b, 1e-5)
    args = (x.float(), G, w.float(), b.float(), 1e-5)   # converted outside: inside, .float() is FlagGems' too
    with gems.use_gems():
        got = torch.nn.functional.group_norm(*args)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(gems, affine):
    # `if weight_pointer:` on a pointer argument (true when the address is not 0)
    x = gen(6, 5, 9, 3, seed=4, scale=2.0)
    w, b = (gen(5, seed=5), gen(5, seed=6)) if affine else (None, None)
    rm, rv = torch.zeros(5, dtype=torch.float64), torch.ones(5, dtype=torch.float64)
    want = torch.nn.functional.batch_norm(x, rm, rv, w, b, training=True, eps=1e-5)
    args = [None if t is None else t.float() for t in (x, rm, rv, w, b)]
    with gems.use_gems():
        got = torch.nn.functional.batch_norm(*args, training=True, eps=1e-5)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_copysign(gems, dtype):
    # @tl.constexpr around a plain Python function, called by the kernel at compile time
    x, y = gen(300, seed=7, scale=10.0).to(dtype), gen(300, seed=8, scale=10.0).to(dtype)
    x[:4] = torch.tensor([float("inf"), -float("inf"), 0.0, -0.0])
    y[:5] = torch.tensor([-0.0, 0.0, -1.0, -float("inf"), float("nan")])
    with gems.use_gems():
        got = torch.copysign(x, y)
    want = torch.copysign(x.double(), y.double()).to(dtype)
    assert torch.equal(got.view(torch.int16 if dtype == torch.float16 else torch.int32),
                       want.view(torch.int16 if dtype == torch.float16 else torch.int32))


def test_isclose(gems):
    # libdevice.isfinited named in a branch float32 never takes
    a = gen(257, seed=9)
    b = a + gen(257, seed=10) * 1e-6
    a[:6] = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0, float("nan"), 0.0])
    b[:6] = torch.tensor([float("nan"), float("inf"), float("inf"), 1.5, 1.0, 1e-9])
    a32, b32 = a.float(), b.float()
    for equal_nan in (False, True):
        with gems.use_gems():
            got = torch.isclose(a32, b32, rtol=1e-5, atol=1e-8, equal_nan=equal_nan)
        want = torch.isclose(a.float().double(), b.float().double(), rtol=1e-5, atol=1e-8, equal_nan=equal_nan)
        assert torch.equal(got, want)


@pytest.mark.parametrize("op", ["cummax", "cummin"])
def test_cummax_cummin(gems, op):
    # a combine function reached through a helper, from a module the kernel also names
    x = torch.randint(-5, 6, (7, 130), generator=torch.Generator().manual_seed(11)).float()
    with gems.use_gems():
        v, i = getattr(torch, op)(x, dim=1)
    wv, wi = getattr(torch, op)(x.double(), dim=1)
    assert torch.equal(v.double(), wv) and torch.equal(i, wi)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_embedding_backward(gems, dtype):
    # 16-bit atomic adds through a pointer moved to a row, then to its columns
    grad = torch.randint(-4, 5, (3, 11, 37), generator=torch.Generator().manual_seed(12)).to(dtype)
    idx = torch.randint(0, 9, (3, 11), generator=torch.Generator().manual_seed(13))
    want = torch.ops.aten.embedding_backward(grad.double(), idx, 9, -1, False, False)
    with gems.use_gems():
        got = torch.ops.aten.embedding_backward(grad, idx, 9, -1, False, False)
    assert torch.equal(got.double(), want)   # small integers: exact in any order


def test_logical_and_or(gems):
    a = torch.randint(-2, 3, (40, 33), generator=torch.Generator().manual_seed(14)).float()
    a[0, :3] = torch.tensor([float("nan"), -0.0, float("inf")])
    b = torch.randint(-1, 2, (40, 33), generator=torch.Generator().manual_seed(15))
    with gems.use_gems():
        got_and, got_or = torch.logical_and(a, b), torch.logical_or(a, b)
    assert torch.equal(got_and, (a != 0) & (b != 0)) and torch.equal(got_or, (a != 0) | (b != 0))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_cumsum(gems, dim):
    x = gen(19, 37, 5, seed=16, scale=4.0)
    x32 = x.float()
    with gems.use_gems():
        s = torch.softmax(x32, dim=dim)
        c = torch.cumsum(x32, dim=dim)
    torch.testing.assert_close(s.double(), torch.softmax(x, dim=dim), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c.double(), torch.cumsum(x, dim=dim), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("M,N,K", [(37, 45, 29), (64, 128, 96)])
def test_mm_and_addmm(gems, M, N, K):
    a, b, bias = gen(M, K, seed=17), gen(K, N, seed=18), gen(N, seed=19)
    a32, b32, bias32 = a.float(), b.float(), bias.float()
    with gems.use_gems():
        c = torch.mm(a32, b32)
        d = torch.addmm(bias32, a32, b32, beta=0.5, alpha=2.0)
    torch.testing.assert_close(c.double(), a @ b, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(d.double(), 0.5 * bias + 2.0 * (a @ b), rtol=1e-4, atol=1e-4)
