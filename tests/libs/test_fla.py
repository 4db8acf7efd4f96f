# test_fla.py: flash-linear-attention (pip install --no-deps fla-core), unedited,
# on triton-metal: its ops forward and backward against float64 references (fla's
# own naive implementations run in float64, or torch), on small ragged shapes
# with negatives. A bounded subset: the full run of fla's own op test files is
# `python tools/libraries/run.py fla --src CHECKOUT` (tools/libraries/README.md).
import os
import sys

import pytest

import triton_metal

torch = pytest.importorskip("torch")
pytest.importorskip("einops", reason="fla needs einops")
if "_C_IMPORT_ERROR" in vars(triton_metal):
    pytest.skip("triton_metal._C is not built", allow_module_level=True)
if sys.modules.get("triton") is not None and not triton_metal.compat.installed():
    pytest.skip("upstream triton is imported in this process", allow_module_level=True)
try:
    from importlib.metadata import version
    version("fla-core")
except Exception:
    pytest.skip("fla-core is not installed (pip install --no-deps fla-core; tools/setup.sh "
                "does)", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def ours():
    if not triton_metal.install():
        pytest.skip("upstream triton is installed")
    os.environ.setdefault("TRITON_METAL_DEVICE", "cpu")
    old = os.environ.get("TRITON_METAL_DISABLE_AUTOTUNING")
    os.environ["TRITON_METAL_DISABLE_AUTOTUNING"] = "1"  # fla autotunes nearly every kernel
    yield
    if old is None:
        os.environ.pop("TRITON_METAL_DISABLE_AUTOTUNING")
    else:
        os.environ["TRITON_METAL_DISABLE_AUTOTUNING"] = old
    triton_metal.uninstall()


def gen(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def run(fn, *xs, seed=99):
    """fn(*xs) and the gradients of <fn(xs), dy> (xs cast by the caller)."""
    xs = [x.detach().clone().requires_grad_(True) for x in xs]
    y = fn(*xs)
    dy = gen(*y.shape, seed=seed).to(y.dtype)
    (y * dy).sum().backward()
    return [y.detach()] + [x.grad for x in xs]


def check(got, want, tol):
    for i, (g, w) in enumerate(zip(got, want)):
        torch.testing.assert_close(g.double(), w.double(), rtol=tol, atol=tol,
                                   msg=lambda m: f"output {i}: {m}")


def test_l2norm():
    from fla.modules.l2norm import l2norm
    x = gen(2, 37, 3, 100, seed=1, scale=2.0)
    want = run(lambda x: x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-6), x)
    check(run(l2norm, x.float()), want, 1e-5)


def test_rms_norm_and_layer_norm():
    from fla.modules import LayerNorm, RMSNorm
    x = gen(2, 45, 96, seed=2, scale=3.0)
    w, b = gen(96, seed=3), gen(96, seed=4)
    ln = LayerNorm(96, eps=1e-5, bias=True)
    ln.weight.data.copy_(w.float())
    ln.bias.data.copy_(b.float())
    want = run(lambda x: torch.nn.functional.layer_norm(x, (96,), w, b, 1e-5), x)
    check(run(ln, x.float()), want, 1e-4)
    rms = RMSNorm(96, eps=1e-5)
    rms.weight.data.copy_(w.float())
    want = run(lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w, x)
    check(run(rms, x.float()), want, 1e-4)


def test_token_shift():
    from fla.modules.token_shift import token_shift, token_shift_ref
    x = gen(2, 53, 40, seed=5)
    check(run(token_shift, x.float()), run(token_shift_ref, x), 1e-6)
    cu = torch.tensor([0, 1, 20, 53], dtype=torch.long)
    xv = x[:1]
    check(run(lambda t: token_shift(t, cu_seqlens=cu), xv.float()),
          run(lambda t: token_shift_ref(t, cu_seqlens=cu), xv), 1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_chunk_local_cumsum(reverse):
    from fla.ops.utils import chunk_local_cumsum
    B, T, H, C = 2, 100, 3, 16  # T not a multiple of the chunk

    def ref(g):
        out = torch.empty_like(g)
        for s in range(0, T, C):
            blk = g[:, s:s + C]
            out[:, s:s + C] = (blk.flip(1).cumsum(1).flip(1) if reverse else blk.cumsum(1))
        return out
    for shape in [(B, T, H), (B, T, H, 8)]:
        g = gen(*shape, seed=6)
        got = chunk_local_cumsum(g.float(), chunk_size=C, reverse=reverse)
        torch.testing.assert_close(got.double(), ref(g), rtol=1e-5, atol=1e-5)


def test_chunk_global_cumsum():  # rank-0 blocks (tl.zeros([]) in fla/ops/utils/cumsum.py)
    from fla.ops.utils import chunk_global_cumsum
    g = gen(2, 100, 3, seed=7)
    got = chunk_global_cumsum(g.float())
    torch.testing.assert_close(got.double(), g.cumsum(1), rtol=1e-5, atol=1e-5)


def qkv(B, T, H, K, V, seed):
    q, k = gen(B, T, H, K, seed=seed), gen(B, T, H, K, seed=seed + 1)
    v = gen(B, T, H, V, seed=seed + 2)
    return q, k, v


def test_fused_recurrent_simple_gla():
    from fla.ops.simple_gla import fused_recurrent_simple_gla
    from fla.ops.simple_gla.naive import naive_recurrent_simple_gla
    B, T, H, K, V = 2, 37, 2, 32, 24
    q, k, v = qkv(B, T, H, K, V, 10)
    g = torch.nn.functional.logsigmoid(gen(B, T, H, seed=13))
    want = run(lambda q, k, v, g: naive_recurrent_simple_gla(q, k, v, g)[0], q, k, v, g)
    got = run(lambda q, k, v, g: fused_recurrent_simple_gla(q, k, v, g)[0],
              q.float(), k.float(), v.float(), g.float())
    check(got, want, 1e-4)


def test_fused_recurrent_gla():
    from fla.ops.gla import fused_recurrent_gla
    from fla.ops.gla.naive import naive_recurrent_gla
    B, T, H, K, V = 2, 29, 2, 32, 16
    q, k, v = qkv(B, T, H, K, V, 20)
    gk = torch.nn.functional.logsigmoid(gen(B, T, H, K, seed=23))
    want = run(lambda q, k, v, gk: naive_recurrent_gla(q, k, v, gk)[0], q, k, v, gk)
    got = run(lambda q, k, v, gk: fused_recurrent_gla(q, k, v, gk)[0],
              q.float(), k.float(), v.float(), gk.float())
    check(got, want, 1e-4)


def test_fused_recurrent_delta_rule():
    from fla.ops.delta_rule import fused_recurrent_delta_rule
    from fla.ops.delta_rule.naive import delta_rule_recurrence
    B, T, H, K, V = 2, 31, 2, 32, 16
    q, k, v = qkv(B, T, H, K, V, 30)
    k = k / k.norm(dim=-1, keepdim=True)  # the delta rule expects unit keys
    beta = torch.sigmoid(gen(B, T, H, seed=33))

    def naive(q, k, v, beta):  # fla's reference takes [B, H, T, ...]
        t = lambda x: x.transpose(1, 2)  # noqa: E731
        return t(delta_rule_recurrence(t(q), t(k), t(v), t(beta))[0])
    want = run(naive, q, k, v, beta)
    got = run(lambda q, k, v, beta: fused_recurrent_delta_rule(q, k, v, beta)[0],
              q.float(), k.float(), v.float(), beta.float())
    check(got, want, 1e-4)
