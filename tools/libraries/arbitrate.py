"""Which side of a failed library comparison is wrong? For a Liger test that
failed, recompute its comparison on the same inputs (same seed and shapes as the
test) three ways: the library on triton-metal, the test's torch reference in the
test's dtype, and that reference in float64 from the same inputs. A failure is
the reference's inaccuracy when the library is the closer of the two to float64.

    python tools/libraries/arbitrate.py [CASE ...]      (default: every case)

Run it in the environment of tools/libraries/README.md. Prints, per case and per
compared tensor, the largest |error| against float64 of each side and which is
closer.
"""
import os
import sys

os.environ.setdefault("TRITON_METAL_DEVICE", "cpu")

import torch  # noqa: E402


def outputs(module_or_fn, x, grad_out, params=()):
    """(y, dx, *dparams) of y = f(x) with the upstream gradient grad_out."""
    x = x.detach().clone().requires_grad_(True)
    y = module_or_fn(x)
    y.backward(grad_out.to(y.dtype))
    return [y.detach(), x.grad] + [p.grad for p in params]


def report(name, labels, lib, ref, f64):
    print(f"{name}")
    verdicts = []
    for label, a, b, t in zip(labels, lib, ref, f64):
        ea = (a.double() - t).abs().max().item()
        eb = (b.double() - t).abs().max().item()
        closer = "library" if ea <= eb else "reference"
        verdicts.append(closer)
        print(f"  {label:12s} max|lib - f64| {ea:.3e}   max|ref - f64| {eb:.3e}   closer: {closer}")
    return verdicts


def norm_case(name, make_lib, make_ref, shape, dtype, seed=0):
    """Liger's LayerNorm/GroupNorm test shape: x ~ randn(seed), module weights
    copied from the Liger module, grad_out ~ randn_like(x) after the forward."""
    torch.manual_seed(seed)
    x = torch.randn(*shape, dtype=dtype)
    lib_m = make_lib().to(dtype)
    ref_m = make_ref().to(dtype)
    with torch.no_grad():
        ref_m.weight.copy_(lib_m.weight)
        ref_m.bias.copy_(lib_m.bias)
    ref64 = make_ref().double()
    with torch.no_grad():
        ref64.weight.copy_(lib_m.weight.double())
        ref64.bias.copy_(lib_m.bias.double())
    lib_y = lib_m(x.clone().requires_grad_(True))  # same RNG use as the test: forward first
    g = torch.randn_like(x)
    del lib_y
    lib = outputs(lib_m, x, g, (lib_m.weight, lib_m.bias))
    ref = outputs(ref_m, x, g, (ref_m.weight, ref_m.bias))
    f64 = outputs(ref64, x.double(), g.double(), (ref64.weight, ref64.bias))
    return report(name, ["y", "dx", "dweight", "dbias"], lib, ref, f64)


def layer_norm(B, T, H):
    from liger_kernel.transformers.layer_norm import LigerLayerNorm
    return norm_case(f"test_layer_norm bf16 {B}x{T}x{H}", lambda: LigerLayerNorm(H, eps=1e-6),
                     lambda: torch.nn.LayerNorm(H, eps=1e-6), (B, T, H), torch.bfloat16)


def group_norm(B, C, G, H):
    from liger_kernel.transformers.group_norm import LigerGroupNorm
    return norm_case(f"test_group_norm fp32 {B}x{C}x{H} groups={G}",
                     lambda: LigerGroupNorm(C, G, eps=1e-6),
                     lambda: torch.nn.GroupNorm(num_channels=C, num_groups=G, eps=1e-6),
                     (B, C, H), torch.float32)


CASES = {
    "layer_norm": lambda: [layer_norm(2, 8, 64), layer_norm(4, 16, 128), layer_norm(3, 7, 256)],
    "group_norm": lambda: [group_norm(16, 48, 12, 8192)],
}


def main(names):
    import triton_metal
    triton_metal.install()
    for n in names or CASES:
        CASES[n]()


if __name__ == "__main__":
    main(sys.argv[1:])
