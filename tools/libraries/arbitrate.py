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
        da, db = (a.double() - t).abs(), (b.double() - t).abs()
        ea, eb = da.max().item(), db.max().item()
        ma, mb = da.mean().item(), db.mean().item()
        # the largest error decides; a tie (both one rounding step off) goes to the mean
        closer = "library" if (ea, ma) <= (eb, mb) else "reference"
        verdicts.append(closer)
        print(f"  {label:8s} max|lib - f64| {ea:.3e} (mean {ma:.2e})   max|ref - f64| {eb:.3e} "
              f"(mean {mb:.2e})   closer: {closer}")
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


def liger_test_module(name):
    """A module of Liger's test tree (its reference classes), from $LIGER_SRC or
    the sdist run.py unpacked."""
    import importlib
    src = os.environ.get("LIGER_SRC")
    if not src:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import run
        src = run.liger_source()
    if src not in sys.path:
        sys.path.insert(0, src)
    return importlib.import_module(name)


def cross_entropy(name, B, T, V, dtype, reduction, seed, ignore_index=-100, random_ignore=False,
                  lse_square_scale=0.0, label_smoothing=0.0, softcap=None, grad="ones",
                  ref_class=False, weight_seed=None):
    """Liger's cross-entropy test flow: x = randn(B*T, V), targets, some set to
    ignore_index at random (random_ignore), loss (times 3 for the not-last-layer
    tests, grad="rand"), backward. The reference is torch's CrossEntropyLoss, or
    the test's CrossEntropyWithZLoss (ref_class) -- in the test's dtype and in float64."""
    from liger_kernel.transformers.functional import liger_cross_entropy
    weight = None
    if weight_seed is not None:  # the weight tests draw it before their own seed
        torch.manual_seed(weight_seed)
        weight = torch.rand(V, dtype=dtype)
    torch.manual_seed(seed)
    x = torch.randn(B * T, V, dtype=dtype)
    target = torch.randint(0, V, (B * T,), dtype=torch.long)
    if random_ignore:
        k = torch.randint(1, B * T // 2, (1,)).item()
        target[torch.randperm(B * T)[:k]] = ignore_index

    def lib(z):
        return liger_cross_entropy(z, target, weight, ignore_index=ignore_index, reduction=reduction,
                                   label_smoothing=label_smoothing,
                                   lse_square_scale=lse_square_scale, softcap=softcap)

    def ref_in(dt):
        if ref_class:
            m = liger_test_module("test.transformers.test_cross_entropy")
            ce = m.CrossEntropyWithZLoss(lse_square_scale=lse_square_scale, reduction=reduction,
                                         ignore_index=ignore_index,
                                         label_smoothing=label_smoothing, dtype=dt)
            if dt == torch.float64:  # the class computes in float32; float64 throughout here
                def f64(z):
                    zz = softcap * torch.tanh(z / softcap) if softcap else z
                    ce_l = torch.nn.functional.cross_entropy(
                        zz, target, reduction=reduction, label_smoothing=label_smoothing,
                        ignore_index=ignore_index)
                    lse = torch.logsumexp(zz, -1)
                    zl = torch.where(target != ignore_index, lse_square_scale * lse ** 2, 0.0)
                    mask = target != ignore_index
                    zl = (zl.sum() / mask.sum() if reduction == "mean" else
                          zl.sum() if reduction == "sum" else zl)
                    return ce_l + zl
                return f64
            if softcap:
                return lambda z: ce(softcap * torch.tanh(z.float() / softcap), target)
            return lambda z: ce(z, target)
        w = None if weight is None else weight.to(dt)
        return lambda z: torch.nn.functional.cross_entropy(z, target, w, ignore_index=ignore_index,
                                                           reduction=reduction,
                                                           label_smoothing=label_smoothing)

    def run_side(f, z, g=None):
        z = z.detach().clone().requires_grad_(True)
        y = f(z)
        if grad == "rand":
            y = y * 3
        return y, z, g

    ys = [run_side(f, x if i < 2 else x.double()) for i, f in
          enumerate([lib, ref_in(dtype), ref_in(torch.float64)])]
    g = torch.ones_like(ys[1][0]) if grad == "ones" else torch.rand_like(ys[1][0])
    out = []
    for y, z, _ in ys:
        y.backward(g.to(y.dtype))
        out.append([y.detach(), z.grad])
    return report(name, ["loss", "dlogits"], out[0], out[1], out[2])


def tvd_compile():
    """test_tvd.py::test_torch_compile_matches_eager[mean]: torch.equal(eager,
    compiled). Both run the same kernel; which total is closer to float64?"""
    from liger_kernel.transformers.tvd import LigerTVDLoss
    torch._dynamo.reset()
    torch.manual_seed(0)
    loss = LigerTVDLoss(reduction="mean")
    p = torch.randn(64, 1271).softmax(dim=-1)
    q = torch.randn(64, 1271).softmax(dim=-1)
    eager = loss(p, q)
    compiled = torch.compile(loss)(p, q)
    f64 = (0.5 * (p.double() - q.double()).abs()).sum() / p.numel()
    return report("test_tvd torch.compile vs eager, mean (lib = eager, ref = compiled)",
                  ["loss"], [eager.detach()], [compiled.detach()], [f64])


CASES = {
    "layer_norm": lambda: [layer_norm(2, 8, 64), layer_norm(4, 16, 128), layer_norm(3, 7, 256)],
    "group_norm": lambda: [group_norm(16, 48, 12, 8192)],
    "tvd_compile": lambda: [tvd_compile()],
    "cross_entropy": lambda: [
        cross_entropy(f"test_correctness bf16 {r} 3x423x32000", 3, 423, 32000, torch.bfloat16, r,
                      seed=0) for r in ("sum", "none")] + [
        cross_entropy(f"test_correctness_with_ignore_index bf16 {r} 3x423x32000", 3, 423, 32000,
                      torch.bfloat16, r, seed=42, ignore_index=-123, random_ignore=True)
        for r in ("sum", "none")] + [
        cross_entropy("test_correctness_not_last_layer bf16 sum 3x423x32000", 3, 423, 32000,
                      torch.bfloat16, "sum", seed=42, grad="rand")] + [
        cross_entropy(f"test_correctness_with_weight_once bf16 {r} 3x423x32000", 3, 423, 32000,
                      torch.bfloat16, r, seed=0, weight_seed=42) for r in ("sum", "none")] + [
        cross_entropy(f"test_correctness_with_z_loss_with_other_params_once fp32 sum "
                      f"3x423x32000 (0.2, -42, lse {s})", 3, 423, 32000, torch.float32, "sum",
                      seed=0, ignore_index=-42, random_ignore=True, lse_square_scale=s,
                      label_smoothing=0.2, ref_class=True) for s in (1e-4, 1e-5)] + [
        cross_entropy(f"test_correctness_not_last_layer_with_other_params fp32 sum {B}x{T}x32000 "
                      f"(ignore {ii}, lse {s}, smoothing {ls}, softcap {sc})", B, T, 32000,
                      torch.float32, "sum", seed=42, ignore_index=ii, random_ignore=True,
                      lse_square_scale=s, label_smoothing=ls, softcap=sc, grad="rand",
                      ref_class=True)
        for B, T in ((2, 1024), (3, 423))
        for ii, s, ls, sc in ((-100, 1e-4, 0.1, 30.0), (42, 1e-5, 0.2, 40.0))],
}


def main(names):
    import triton_metal
    triton_metal.install()
    for n in names or CASES:
        CASES[n]()


if __name__ == "__main__":
    main(sys.argv[1:])
