# test_mxfp_tools.py: triton.tools.mxfp (host-side E2M1 / E8M0 helpers) against
# exact references written here.
import itertools
from fractions import Fraction

import numpy as np
import pytest

import triton_metal

torch = pytest.importorskip("torch")
MXFP4Tensor = MXScaleTensor = None


@pytest.fixture(scope="module", autouse=True)
def ours():
    """`triton.tools.mxfp` as a program imports it (our `triton` installed)."""
    global MXFP4Tensor, MXScaleTensor
    if not triton_metal.install():
        pytest.skip("upstream triton is installed")
    from triton.tools.mxfp import MXFP4Tensor, MXScaleTensor
    yield
    triton_metal.uninstall()

VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def nearest_e2m1(x):
    """Exact nearest E2M1 code of a float (ties to the even code, saturating)."""
    sign = 8 if np.signbit(x) else 0
    m = abs(Fraction(x)) if np.isfinite(x) else Fraction(100)
    best = min(range(8), key=lambda c: (abs(m - Fraction(VALUES[c])), c % 2))
    return best | sign


def test_every_code_round_trips_and_decodes():
    codes = torch.arange(16, dtype=torch.uint8)
    t = MXFP4Tensor(size=(16,))
    t.data = codes
    vals = t.to(torch.float32)
    assert vals.tolist() == VALUES + [-v for v in VALUES]
    assert torch.equal(MXFP4Tensor(vals).data, codes)


def test_encoding_is_nearest_with_ties_to_even():
    rng = np.random.default_rng(0)
    mids = [(a + b) / 2 for a, b in zip(VALUES, VALUES[1:])]
    xs = np.concatenate([rng.uniform(-8, 8, 2000), mids, [-m for m in mids], [7.0, -7.0, 1e30, np.inf, -np.inf, -0.0]])
    xs = xs.astype(np.float32)
    got = MXFP4Tensor(torch.from_numpy(xs)).data.tolist()
    assert got == [nearest_e2m1(float(x)) for x in xs]
    with pytest.raises(ValueError, match="NaN"):
        MXFP4Tensor(torch.tensor([1.0, float("nan")]))


@pytest.mark.parametrize("shape,dim", [((9,), 0), ((7, 5), 1), ((7, 5), 0), ((3, 4, 6), 2), ((3, 5, 2), 1)])
def test_packing_layout_and_round_trip(shape, dim):
    t = MXFP4Tensor(size=shape).random()
    packed = t.to_packed_tensor(dim)
    assert packed.dtype == torch.uint8 and packed.shape[dim] == (shape[dim] + 1) // 2
    d = t.data.numpy()
    for idx in itertools.product(*[range(s) for s in packed.shape]):
        i = list(idx)
        lo_idx = i.copy()
        lo_idx[dim] = 2 * i[dim]
        hi_idx = i.copy()
        hi_idx[dim] = 2 * i[dim] + 1
        lo = d[tuple(lo_idx)]
        hi = d[tuple(hi_idx)] if hi_idx[dim] < shape[dim] else 0
        assert packed[idx].item() == lo | (hi << 4)
    assert torch.equal(t.unpack_packed_tensor(packed, dim, shape), t.data)
    with pytest.raises(AssertionError):
        t.to_packed_tensor(len(shape))


def test_scales():
    vals = torch.tensor([1.0, 2.0, 0.25, 2.0**-127, 2.0**127, 3.0, 0.0, -1.0, float("nan"), float("inf")])
    s = MXScaleTensor(vals)
    assert s.data.tolist() == [127, 128, 125, 0, 254, 129, 255, 255, 255, 255]  # 3 -> 2^round(log2 3) = 4
    back = s.to(torch.float32)
    assert back[:6].tolist() == [1.0, 2.0, 0.25, 2.0**-127, 2.0**127, 4.0]
    assert torch.isnan(back[6:]).all()
    r = MXScaleTensor(size=(500,)).random(low=0.5, high=32.0)
    assert ((r.data >= 126) & (r.data <= 132)).all() and len(set(r.data.tolist())) == 7
