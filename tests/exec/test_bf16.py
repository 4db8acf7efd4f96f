"""bfloat16: loads and stores, arithmetic (rounded to bfloat16 per operation),
promotion with other dtypes (bf16 with anything else -> fp32), conversions,
reductions (max upcasts to fp32) and dot (fp32 accumulation), with torch CPU
tensors as the reference."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

torch = pytest.importorskip("torch")


@triton.jit
def bf16_ops_kernel(a_ptr, b_ptr, s_ptr, p_ptr, f_ptr, m_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    a = tl.load(a_ptr + offs)
    b = tl.load(b_ptr + offs)
    tl.store(s_ptr + offs, a + b)                 # bf16
    tl.store(p_ptr + offs, a * b - a)             # bf16, rounded per operation
    tl.store(f_ptr + offs, a.to(tl.float32) * 2 + (a + 1.5).to(tl.float32))
    tl.store(m_ptr, tl.max(a, axis=0))            # fp32 result


def test_bf16_arithmetic():
    g = torch.Generator().manual_seed(5)
    N = 128
    a = (torch.randn(N, generator=g) * 8).to(torch.bfloat16)
    b = (torch.randn(N, generator=g) * 8).to(torch.bfloat16)
    s = torch.empty(N, dtype=torch.bfloat16)
    p = torch.empty(N, dtype=torch.bfloat16)
    f = torch.empty(N, dtype=torch.float32)
    m = torch.empty(1, dtype=torch.float32)
    bf16_ops_kernel[(1,)](a, b, s, p, f, m, N=N)
    assert torch.equal(s, a + b)
    assert torch.equal(p, a * b - a)
    assert torch.equal(f, a.float() * 2 + (a + 1.5).float())
    assert m.item() == a.float().max().item()


@triton.jit
def bf16_dot_kernel(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], tl.dot(a, b))


def test_bf16_dot_fp32_accumulate():
    g = torch.Generator().manual_seed(6)
    M = N = K = 32
    a = torch.randn(M, K, generator=g).to(torch.bfloat16)
    b = torch.randn(K, N, generator=g).to(torch.bfloat16)
    c = torch.empty(M, N, dtype=torch.float32)
    bf16_dot_kernel[(1,)](a, b, c, M=M, N=N, K=K)
    ref = a.double() @ b.double()
    np.testing.assert_allclose(c.numpy(), ref.numpy(), rtol=1e-5, atol=1e-4)


def test_bf16_refused_where_msl_lacks_it(tmp_path):
    """macOS 13 offers MSL 3.0: no bfloat, a located error instead of bad code."""
    import os
    import pathlib
    import subprocess
    root = pathlib.Path(__file__).resolve().parents[2]
    k = tmp_path / "k.py"
    k.write_text("import triton_metal.language as tl\n\ndef k(p):\n    x = tl.load(p)\n    tl.store(p, x + 1)\n")
    env = dict(os.environ, TRITON_METAL_HW="M2@13.5")
    r = subprocess.run([str(root / "build" / "triton-metal"), "compile", str(k), "--signature", "*bf16"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert "bfloat16 needs Metal Shading Language 3.1 (macOS 14)" in r.stderr and "k.py:3:7:" in r.stderr


# Metal's standard library has no bfloat overloads of fmin/fmax/abs/the math
# functions or of simd_shuffle* (issue 15 item 2; MLX supplies its own): the
# compiler computes them in float (exact for these) and shuffles bfloat as
# ushort, and the shim refuses the bfloat overloads (tests/shim/probes), so
# each line below fails to build if a bfloat call is emitted again.

@triton.jit
def _bf16_max_combine(a, b):
    return tl.maximum(a, b)


@triton.jit
def bf16_no_overload_kernel(x_ptr, y_ptr, lo_ptr, hi_ptr, o_ptr, r_ptr, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < n
    x = tl.load(x_ptr + i, mask=m, other=-100.0)
    y = tl.load(y_ptr + i, mask=m, other=-100.0)
    tl.store(o_ptr + i, tl.maximum(x, y), mask=m)
    tl.store(o_ptr + BLOCK + i, tl.minimum(x, y, propagate_nan=tl.PropagateNan.ALL), mask=m)
    tl.store(o_ptr + 2 * BLOCK + i, tl.abs(x), mask=m)
    tl.store(o_ptr + 3 * BLOCK + i, tl.clamp(y, tl.load(lo_ptr + i, mask=m), tl.load(hi_ptr + i, mask=m)), mask=m)
    tl.store(o_ptr + 4 * BLOCK + i, tl.associative_scan(y, 0, _bf16_max_combine), mask=m)  # shuffles up
    tl.store(r_ptr, tl.reduce(y, 0, _bf16_max_combine))  # butterfly shuffles


@pytest.mark.parametrize("n,warps", [(1, 1), (100, 4), (256, 4), (1000, 8)])
def test_bf16_min_max_abs_scan_reduce_without_bfloat_overloads(n, warps):
    g = torch.Generator().manual_seed(n)
    BLOCK = triton.next_power_of_2(n)
    x = (torch.randn(n, generator=g) * 50).to(torch.bfloat16)
    y = (torch.randn(n, generator=g) * 50).to(torch.bfloat16)
    x[::9] = float("nan")
    x[1::13] = float("-inf")
    x[2::11] = -0.0
    lo = torch.minimum(y, y.flip(0)) - 1
    hi = torch.maximum(y, y.flip(0))
    o = torch.full((5 * BLOCK,), 7.0, dtype=torch.bfloat16)
    r = torch.empty(1, dtype=torch.bfloat16)
    k = bf16_no_overload_kernel[(1,)](x, y, lo, hi, o, r, n, BLOCK=BLOCK, num_warps=warps)
    got = o.view(5, BLOCK)[:, :n].float().numpy()
    xf, yf = x.float().numpy(), y.float().numpy()
    np.testing.assert_array_equal(got[0], np.fmax(xf, yf))  # NaN loses, as fmax
    np.testing.assert_array_equal(got[1], np.minimum(xf, yf))  # NaN wins
    np.testing.assert_array_equal(got[2], np.abs(xf))
    np.testing.assert_array_equal(got[3], np.clip(yf, lo.float().numpy(), hi.float().numpy()))
    np.testing.assert_array_equal(got[4], np.maximum.accumulate(yf))
    assert r.item() == yf.max()
    assert (o.view(5, BLOCK)[:, n:] == 7).all()
    msl = k.asm["msl"]
    assert "fmax(float(" in msl and "abs(float(" in msl
