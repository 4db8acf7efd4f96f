# test_liger.py: Liger-Kernel (pip install --no-deps liger-kernel), unedited, on
# triton-metal: its ops through its public functional API, forward and backward,
# against float64 references computed here with torch (random data with negatives,
# ignored labels, row lengths that are not powers of two). A bounded subset: the
# full run of Liger's own test files is `make libraries` (tools/libraries/).
import os
import sys

import pytest

import triton_metal

torch = pytest.importorskip("torch")
pytest.importorskip("liger_kernel", reason="liger-kernel is not installed "
                    "(pip install --no-deps liger-kernel; tools/setup.sh does)")
if "_C_IMPORT_ERROR" in vars(triton_metal):
    pytest.skip("triton_metal._C is not built", allow_module_level=True)
if sys.modules.get("triton") is not None and not triton_metal.compat.installed():
    pytest.skip("upstream triton is imported in this process", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def ours():
    if not triton_metal.install():
        pytest.skip("upstream triton is installed")
    os.environ.setdefault("TRITON_METAL_DEVICE", "cpu")
    yield
    triton_metal.uninstall()


@pytest.fixture(scope="module")
def F():
    import liger_kernel.ops  # noqa: F401  (the acceptance's first step: it imports)
    from liger_kernel.transformers import functional
    return functional


def gen(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale)


def grads(fn, *xs, seed=99):
    """fn's output and the gradients of <fn(xs), dy> for a fixed random dy."""
    xs = [x.detach().clone().requires_grad_(True) for x in xs]
    y = fn(*xs)
    dy = gen(*y.shape, seed=seed).to(y.dtype) if y.dim() else torch.ones((), dtype=y.dtype)
    (y * dy).sum().backward()
    return [y.detach()] + [x.grad for x in xs]


def check(got, want, tol):
    for g, w in zip(got, want):
        torch.testing.assert_close(g.double(), w, rtol=tol, atol=tol)


@pytest.mark.parametrize("rows,cols", [(7, 129), (33, 1000)])
def test_rms_norm(F, rows, cols):
    x, w = gen(rows, cols, seed=1), gen(cols, seed=2)

    def ref(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w
    want = grads(ref, x, w)
    got = grads(lambda x, w: F.liger_rms_norm(x, w, 1e-6, in_place=False), x.float(), w.float())
    check(got, want, 2e-4)


@pytest.mark.parametrize("rows,cols", [(5, 77), (40, 513)])
def test_layer_norm(F, rows, cols):
    x, w, b = gen(rows, cols, seed=3, scale=3.0), gen(cols, seed=4), gen(cols, seed=5)
    want = grads(lambda x, w, b: torch.nn.functional.layer_norm(x, (cols,), w, b, 1e-6), x, w, b)
    got = grads(lambda x, w, b: F.liger_layer_norm(x, w, b, 1e-6), x.float(), w.float(), b.float())
    check(got, want, 2e-4)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(F, reduction):
    n, v = 37, 1000
    logits = gen(n, v, seed=6, scale=4.0)
    target = torch.randint(0, v, (n,), generator=torch.Generator().manual_seed(7))
    target[::5] = -100  # ignored rows

    def ref(z):
        return torch.nn.functional.cross_entropy(z, target, ignore_index=-100,
                                                 reduction=reduction, label_smoothing=0.1)
    want = grads(ref, logits)
    got = grads(lambda z: F.liger_cross_entropy(z, target, ignore_index=-100, reduction=reduction,
                                                label_smoothing=0.1), logits.float())
    check(got, want, 1e-4)


def test_swiglu_and_softmax(F):
    a, b = gen(9, 300, seed=8, scale=3.0), gen(9, 300, seed=9)
    want = grads(lambda a, b: torch.nn.functional.silu(a) * b, a, b)
    check(grads(F.liger_swiglu, a.float(), b.float()), want, 1e-5)
    x = gen(6, 777, seed=10, scale=5.0)
    want = grads(lambda x: torch.softmax(x, -1), x)
    check(grads(F.liger_softmax, x.float()), want, 1e-6)


def test_kl_div(F):
    p = torch.log_softmax(gen(11, 500, seed=11, scale=2.0), -1)
    q = torch.log_softmax(gen(11, 500, seed=12, scale=2.0), -1)
    want = grads(lambda p: torch.nn.functional.kl_div(p, q, reduction="batchmean",
                                                      log_target=True), p)
    got = grads(lambda p: F.liger_kl_div(p, q.float(), reduction="batchmean", log_target=True),
                p.float())
    check(got, want, 1e-5)
