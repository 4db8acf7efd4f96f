# triton.tools.mxfp: host-side helpers for the OCP microscaling (MX) formats,
# on torch tensors: MXFP4Tensor holds 4-bit E2M1 values (one code per uint8,
# sign in bit 3, magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6), MXScaleTensor 8-bit
# E8M0 block scales (2^(code - 127), code 255 = NaN). Kernels cannot compute
# with them on Apple GPUs (tl.dot_scaled is refused); these convert, pack and
# make test data, as upstream's module of the same name does.

_E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def _torch():
    import torch
    return torch


def _init_codes(t, data, size, device):
    """The codes of data (a float tensor, encoded by t._from_float), or zeros of size."""
    torch = _torch()
    if data is not None:
        if not isinstance(data, torch.Tensor):
            data = torch.as_tensor(data, dtype=torch.float32)
        t.device = data.device
        t.size = tuple(data.shape)
        t.data = t._from_float(data)
    elif size is not None:
        t.device = device
        t.size = tuple(size) if isinstance(size, (tuple, list)) else (size,)
        t.data = torch.zeros(t.size, dtype=torch.uint8, device=device)
    else:
        raise ValueError(f"{type(t).__name__} needs data (a float tensor) or a size")


class MXFP4Tensor:
    """4-bit E2M1 floats: .data holds one code per uint8 element."""

    def __init__(self, data=None, size=None, device=None):
        _init_codes(self, data, size, device)

    def random(self):
        """Uniformly random codes (every value, both signs)."""
        torch = _torch()
        self.data = torch.randint(0, 16, self.size, dtype=torch.uint8, device=self.device)
        return self

    def to(self, dtype):
        """The values as a tensor of dtype (a torch floating dtype)."""
        torch = _torch()
        table = torch.tensor(_E2M1 + tuple(-v for v in _E2M1), dtype=torch.float32, device=self.data.device)
        return table[self.data.long()].to(dtype)

    def _from_float(self, values):
        """Codes of the nearest E2M1 values (ties to the even code, as IEEE
        rounding does); magnitudes beyond 6 saturate to +-6; -0.0 keeps its sign.
        NaN has no E2M1 encoding and is refused."""
        torch = _torch()
        v = values.to(torch.float32)
        if torch.isnan(v).any():
            raise ValueError("MXFP4Tensor: NaN has no E2M1 encoding")
        sign = torch.signbit(v).to(torch.uint8) << 3
        mag = v.abs()
        grid = torch.tensor(_E2M1, dtype=torch.float32, device=v.device)
        # the two neighbours of each magnitude on the grid
        hi = torch.searchsorted(grid, mag.reshape(-1).contiguous()).clamp(max=7)
        lo = (hi - 1).clamp(min=0)
        m = mag.reshape(-1)
        d_lo, d_hi = m - grid[lo], grid[hi] - m
        pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
        code = torch.where(pick_hi, hi, lo)
        code = torch.where(m >= 6.0, torch.full_like(code, 7), code)  # saturate (inf included)
        return code.to(torch.uint8).reshape(v.shape) | sign

    def to_packed_tensor(self, dim):
        """Two codes per byte along dim (element 2i in the low nibble, 2i + 1
        in the high one), the dimension padded with a zero code to even length."""
        torch = _torch()
        assert 0 <= dim < self.data.dim(), f"dim {dim} is not a dimension of a {self.data.dim()}-D tensor"
        d = self.data
        if d.shape[dim] % 2:
            pad = list(d.shape)
            pad[dim] = 1
            d = torch.cat([d, torch.zeros(pad, dtype=d.dtype, device=d.device)], dim=dim)
        even = d.narrow(dim, 0, d.shape[dim]).unflatten(dim, (d.shape[dim] // 2, 2))
        lo = even.select(dim + 1, 0)
        hi = even.select(dim + 1, 1)
        return (lo & 0xF) | ((hi & 0xF) << 4)

    def unpack_packed_tensor(self, packed_tensor, dim, original_shape):
        """The codes of a tensor packed by to_packed_tensor(dim), cut to original_shape."""
        torch = _torch()
        lo = packed_tensor & 0xF
        hi = (packed_tensor >> 4) & 0xF
        both = torch.stack([lo, hi], dim=dim + 1).flatten(dim, dim + 1)
        return both.narrow(dim, 0, original_shape[dim]).contiguous()


class MXScaleTensor:
    """8-bit E8M0 scales: .data holds codes, value 2^(code - 127), 255 = NaN."""

    def __init__(self, data=None, size=None, device=None):
        _init_codes(self, data, size, device)

    def random(self, low=None, high=None):
        """Uniformly random finite codes, between the codes of low and high
        (powers of two; by default every finite scale, 2^-127 .. 2^127)."""
        torch = _torch()
        lo = 0 if low is None else int(self._from_float(torch.tensor([float(low)])).item())
        hi = 254 if high is None else int(self._from_float(torch.tensor([float(high)])).item())
        if lo > hi or hi == 255 or lo == 255:
            raise ValueError(f"MXScaleTensor.random: no finite scale between {low} and {high}")
        self.data = torch.randint(lo, hi + 1, self.size, dtype=torch.uint8, device=self.device)
        return self

    def to(self, dtype):
        torch = _torch()
        e = self.data.to(torch.float32) - 127.0
        v = torch.exp2(e)
        return torch.where(self.data == 255, torch.full_like(v, float("nan")), v).to(dtype)

    def _from_float(self, values):
        """Codes of the nearest powers of two (by the exponent, rounded to the
        nearest in log2); zero, negative, infinite and NaN values have no E8M0
        encoding and become the NaN code 255; the range is clamped to 2^-127 .. 2^127."""
        torch = _torch()
        v = values.to(torch.float64)
        ok = (v > 0) & torch.isfinite(v)
        e = torch.round(torch.log2(torch.where(ok, v, torch.ones_like(v)))).clamp(-127, 127) + 127
        return torch.where(ok, e, torch.full_like(e, 255)).to(torch.uint8)
