"""The GPU proxy's measurements (issue 17): the same kernels (bench/proxy_kernels.py),
the same sizes and meta-parameters, run by upstream Triton and by triton-metal's
CUDA dialect in one process on one NVIDIA GPU, side by side.

    TRITON_METAL_HW=cuda-sm90 TRITON_METAL_DEVICE=cuda PYTHONPATH=python \\
        python3 bench/h100_proxy.py --out bench/results [--quick] [--only softmax,add]

Needs torch with CUDA, upstream `triton` and our build (make) on the GPU machine.
Each case: inputs as torch CUDA tensors; upstream's result checked against a
torch reference, ours against the same reference; then both timed with
upstream's triton.testing.do_bench (CUDA events, the L2 flushed between runs,
median), ours first or second by case (alternating). Memory-bound cases report
GB/s (bytes read + written once), the others TFLOP/s; ratio = ours / upstream.
The device's copy bandwidth (torch, device to device) is the memory-bound limit.
Writes <date>-<gpu>-cuda-proxy.{md,json} under --out.
"""
import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_kernels(backend, tag):
    """bench/proxy_kernels.py run with `triton` = backend, `tl` = backend.language."""
    path = os.path.join(HERE, "proxy_kernels.py")
    spec = importlib.util.spec_from_file_location(f"proxy_kernels_{tag}", path)
    mod = importlib.util.module_from_spec(spec)
    mod.triton = backend
    mod.tl = backend.language
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--only", default="", help="comma-separated case name prefixes")
    ap.add_argument("--rep", type=int, default=100, help="do_bench's rep (ms)")
    args = ap.parse_args()

    import torch
    import triton as up
    import triton_metal as ours
    from triton.testing import do_bench

    assert torch.cuda.is_available(), "needs a CUDA GPU"
    dev = torch.device("cuda")
    K_up = load_kernels(up, "upstream")
    K_us = load_kernels(ours, "ours")
    gpu = torch.cuda.get_device_name(0)
    torch.manual_seed(0)
    only = [s for s in args.only.split(",") if s]
    rows, failures = [], []

    def bench(fn):
        fn()
        torch.cuda.synchronize()
        return do_bench(fn, warmup=25, rep=args.rep, return_mode="median")

    def case(name, kind, work, make, run_up, run_us, check):
        """kind 'GB/s' (work = bytes) or 'TFLOP/s' (work = flops)."""
        if only and not any(name.startswith(o) for o in only):
            return
        print(f"== {name}", flush=True)
        row = {"case": name, "unit": kind}
        try:
            data = make()
            out_up = run_up(data)
            torch.cuda.synchronize()
            err_up = check(data, out_up)
            out_us = run_us(data)
            torch.cuda.synchronize()
            err_us = check(data, out_us)
            row["check_upstream"], row["check_ours"] = err_up, err_us
            order = [("upstream", run_up), ("ours", run_us)]
            if len(rows) % 2:
                order.reverse()
            t = {}
            for who, fn in order:
                t[who] = bench(lambda: fn(data))
            scale = 1e-9 if kind == "GB/s" else 1e-12
            row["ms_upstream"], row["ms_ours"] = t["upstream"], t["ours"]
            row["upstream"] = work * scale / (t["upstream"] * 1e-3)
            row["ours"] = work * scale / (t["ours"] * 1e-3)
            row["ratio"] = row["ours"] / row["upstream"]
            print(f"   upstream {row['upstream']:.1f} {kind}  ours {row['ours']:.1f} {kind}  "
                  f"ratio {row['ratio']:.3f}  (check: upstream {err_up}, ours {err_us})", flush=True)
        except Exception as e:  # a case that fails is reported, the rest still run
            import traceback
            row["error"] = f"{type(e).__name__}: {e}"[:2000]
            failures.append(name)
            traceback.print_exc()
        rows.append(row)

    def max_err(ref, got, atol, rtol):
        ref, got = ref.float(), got.float()
        bad = ~torch.isclose(got, ref, atol=atol, rtol=rtol, equal_nan=True)
        worst = (got - ref).abs().max().item() if ref.numel() else 0.0
        return "ok" if not bad.any() else f"MISMATCH {int(bad.sum())} of {ref.numel()}, max |diff| {worst:.3g}"

    # ---- copy bandwidth: the memory-bound limit
    n = (1 << 28) if not args.quick else (1 << 24)
    src = torch.empty(n, dtype=torch.float32, device=dev).normal_()
    dst = torch.empty_like(src)
    t_copy = bench(lambda: dst.copy_(src))
    copy_gbs = 2 * src.numel() * 4 * 1e-9 / (t_copy * 1e-3)
    print(f"device copy: {copy_gbs:.0f} GB/s (read + write, {n * 4 >> 20} MiB)", flush=True)
    del src, dst

    # ---- vector add
    for lg in ([24, 28] if not args.quick else [20, 24]):
        def make(lg=lg):
            x = torch.randn(1 << lg, device=dev)
            y = torch.randn(1 << lg, device=dev)
            return x, y, torch.empty_like(x)

        def run(K, d):
            x, y, o = d
            K.add_kernel[(triton_cdiv(x.numel(), 1024),)](x, y, o, x.numel(), BLOCK=1024, num_warps=4)
            return o

        case(f"add fp32 2^{lg}", "GB/s", 3 * 4 * (1 << lg), make,
             lambda d: run(K_up, d), lambda d: run(K_us, d),
             lambda d, o: max_err(d[0] + d[1], o, 0, 0))

    # ---- dropout (Philox: tl.rand's 32-bit high products)
    nd = (1 << 26) if not args.quick else (1 << 22)

    def make_d():
        return torch.randn(nd, device=dev), torch.empty(nd, device=dev)

    def run_d(K, d):
        x, o = d
        K.dropout_kernel[(triton_cdiv(nd, 1024),)](x, o, nd, 0.25, 1234, BLOCK=1024, num_warps=4)
        return o

    def check_d(d, o):
        # the same seed and offsets give the same Philox stream on both sides:
        # the kept elements must be the same ones, bit for bit; their values
        # x / (1 - p) within an ulp (upstream divides with div.full.f32, an
        # approximate division; ours is IEEE-rounded)
        ref = run_d(K_up, (d[0], torch.empty_like(d[1])))
        if not torch.equal(ref != 0, o != 0):
            return f"MISMATCH kept mask: {int(((ref != 0) != (o != 0)).sum())} of {o.numel()}"
        return max_err(ref, o, 0, 2.5e-7)

    case(f"dropout fp32 2^{nd.bit_length() - 1}", "GB/s", 2 * 4 * nd, make_d,
         lambda d: run_d(K_up, d), lambda d: run_d(K_us, d), check_d)

    # ---- softmax
    M, N = (4096, 4096) if not args.quick else (512, 1024)
    for dt in (torch.float32, torch.float16):
        def make(dt=dt):
            x = torch.randn(M, N, device=dev, dtype=dt)
            return x, torch.empty_like(x)

        def run(K, d):
            x, o = d
            K.softmax_kernel[(M,)](o, x, x.stride(0), N, BLOCK=triton_next_pow2(N), num_warps=8)
            return o

        case(f"softmax {str(dt)[6:]} {M}x{N}", "GB/s", 2 * M * N * x_size(dt), make,
             lambda d: run(K_up, d), lambda d: run(K_us, d),
             lambda d, o: max_err(torch.softmax(d[0].float(), 1), o, 1e-3 if d[0].dtype == torch.float16 else 1e-6, 1e-2 if d[0].dtype == torch.float16 else 1e-5))

    # ---- layer norm forward and backward
    for dt in (torch.float32, torch.float16):
        es = x_size(dt)

        def make_f(dt=dt):
            x = torch.randn(M, N, device=dev, dtype=dt)
            w = torch.rand(N, device=dev, dtype=dt)
            b = torch.randn(N, device=dev, dtype=dt)
            mean = torch.empty(M, device=dev)
            rstd = torch.empty(M, device=dev)
            return x, w, b, torch.empty_like(x), mean, rstd

        def run_f(K, d):
            x, w, b, y, mean, rstd = d
            K.ln_fwd_kernel[(M,)](x, y, w, b, mean, rstd, x.stride(0), N, 1e-5, BLOCK=1024, num_warps=8)
            return y

        def check_f(d, y):
            x, w, b = d[0], d[1], d[2]
            ref = torch.nn.functional.layer_norm(x.float(), (N,), w.float(), b.float(), 1e-5)
            return max_err(ref, y, 1e-2 if x.dtype == torch.float16 else 1e-4, 1e-2 if x.dtype == torch.float16 else 1e-4)

        case(f"layer_norm fwd {str(dt)[6:]} {M}x{N}", "GB/s", 2 * M * N * es, make_f,
             lambda d: run_f(K_up, d), lambda d: run_f(K_us, d), check_f)

        GROUP = 64

        def make_b(dt=dt):
            x, w, b, y, mean, rstd = make_f(dt)
            xf = x.float()
            mean.copy_(xf.mean(1))
            rstd.copy_(1 / torch.sqrt(xf.var(1, unbiased=False) + 1e-5))
            dy = torch.randn(M, N, device=dev, dtype=dt)
            return dict(x=x, w=w, mean=mean, rstd=rstd, dy=dy, dx=torch.empty_like(x),
                        dw_part=torch.empty(GROUP, N, device=dev, dtype=torch.float32),
                        db_part=torch.empty(GROUP, N, device=dev, dtype=torch.float32),
                        locks=torch.zeros(2 * GROUP, device=dev, dtype=torch.int32),
                        dw=torch.empty(N, device=dev, dtype=dt), db=torch.empty(N, device=dev, dtype=dt))

        def run_b(K, d):
            d["locks"].zero_()
            K.ln_bwd_dx_kernel[(M,)](d["dx"], d["dy"], d["x"], d["w"], d["mean"], d["rstd"], d["dw_part"],
                                      d["db_part"], d["locks"], d["x"].stride(0), N, GROUP=GROUP,
                                      BLOCK=triton_next_pow2(N), num_warps=8)
            K.ln_bwd_dwdb_kernel[(triton_cdiv(N, 128),)](d["dw_part"], d["db_part"], d["dw"], d["db"], GROUP, N,
                                                         BLOCK_G=32, BLOCK_N=128, num_warps=4)
            return d["dx"], d["dw"], d["db"]

        def check_b(d, outs):
            # leaves of their own: .float() of a float32 tensor is the tensor
            # itself, whose .grad would add up across checks
            x = d["x"].detach().float().clone().requires_grad_()
            w = d["w"].detach().float().clone().requires_grad_()
            b = torch.zeros(N, device=dev, requires_grad=True)
            y = torch.nn.functional.layer_norm(x, (N,), w, b, 1e-5)
            y.backward(d["dy"].float())
            half = d["x"].dtype == torch.float16
            tol = (2e-2, 2e-2) if half else (1e-3, 1e-3)
            errs = [max_err(x.grad, outs[0], *tol), max_err(w.grad, outs[1], 0.5 if half else 2e-2, 2e-2),
                    max_err(b.grad, outs[2], 0.5 if half else 2e-2, 2e-2)]
            return "ok" if all(e == "ok" for e in errs) else "; ".join(errs)

        # bytes: x, dy read and dx written (M*N each), plus the partial rows
        case(f"layer_norm bwd {str(dt)[6:]} {M}x{N}", "GB/s", 3 * M * N * es, make_b,
             lambda d: run_b(K_up, d), lambda d: run_b(K_us, d), check_b)

    # ---- cross-entropy forward
    R, V = (4096, 32000) if not args.quick else (256, 32000)
    for dt in (torch.float32, torch.float16):
        def make_c(dt=dt):
            logits = torch.randn(R, V, device=dev, dtype=dt)
            target = torch.randint(0, V, (R,), device=dev, dtype=torch.int32)
            return logits, target, torch.empty(R, device=dev)

        def run_c(K, d):
            logits, target, loss = d
            K.cross_entropy_fwd_kernel[(R,)](logits, target, loss, logits.stride(0), V, BLOCK=2048, num_warps=8)
            return loss

        case(f"cross_entropy fwd {str(dt)[6:]} {R}x{V}", "GB/s", R * V * x_size(dt), make_c,
             lambda d: run_c(K_up, d), lambda d: run_c(K_us, d),
             lambda d, o: max_err(torch.nn.functional.cross_entropy(d[0].float(), d[1].long(), reduction="none"),
                                  o, 1e-3, 1e-4))

    # ---- matmul
    S = 4096 if not args.quick else 1024
    for dt in (torch.float16, torch.bfloat16):
        def make_m(dt=dt):
            a = torch.randn(S, S, device=dev, dtype=dt)
            b = torch.randn(S, S, device=dev, dtype=dt)
            return a, b, torch.empty(S, S, device=dev, dtype=dt)

        def run_m(K, d):
            a, b, c = d
            BM, BN, BK = 128, 128, 32
            K.matmul_kernel[(triton_cdiv(S, BM) * triton_cdiv(S, BN),)](
                a, b, c, S, S, S, a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0), c.stride(1),
                BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, GROUP_M=8, num_warps=8)
            return c

        case(f"matmul {str(dt)[6:]} {S}^3", "TFLOP/s", 2 * S ** 3, make_m,
             lambda d: run_m(K_up, d), lambda d: run_m(K_us, d),
             lambda d, o: max_err((d[0].float() @ d[1].float()), o, 0.5, 2e-2))

    # ---- row sort (tl.sort: bitonic steps, each element against its partner c ^ 2**j)
    ns = 65536 if not args.quick else 4096
    for R, N in [(4, 256), (1, 1024)]:
        def make_s(N=N):
            return torch.randn(ns, N, device=dev), torch.empty(ns, N, device=dev)

        def run_s(K, d, R=R, N=N):
            x, o = d
            K.sort_kernel[(x.shape[0] // R,)](x, o, ROWS=R, N=N, num_warps=4)
            return o

        case(f"sort fp32 {R}x{N} rows of {ns}x{N}", "GB/s", 2 * ns * N * 4, make_s,
             lambda d, K=None: run_s(K_up, d), lambda d: run_s(K_us, d),
             lambda d, o: max_err(torch.sort(d[0], dim=1).values, o, 0, 0))

    # ---- attention forward
    B_H, CTX = (32, 4096) if not args.quick else (4, 512)
    for hd in (64, 128):
        for causal in (False, True):
            def make_a(hd=hd):
                q = torch.randn(B_H, CTX, hd, device=dev, dtype=torch.float16)
                k = torch.randn(B_H, CTX, hd, device=dev, dtype=torch.float16)
                v = torch.randn(B_H, CTX, hd, device=dev, dtype=torch.float16)
                return q, k, v, torch.empty_like(q)

            def run_a(K, d, causal=causal, hd=hd):
                q, k, v, o = d
                BM, BN = 128, 64
                K.attn_fwd_kernel[(triton_cdiv(CTX, BM), B_H)](
                    q, k, v, o, 1 / math.sqrt(hd), q.stride(0), q.stride(1), CTX,
                    CAUSAL=causal, BLOCK_M=BM, BLOCK_N=BN, HEAD_DIM=hd, num_warps=8)
                return o

            def check_a(d, o, causal=causal):
                q, k, v = (t.float() for t in d[:3])
                ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                return max_err(ref, o, 2e-2, 2e-2)

            flops = 4 * B_H * CTX * CTX * hd * (0.5 if causal else 1.0)
            case(f"attention fwd d{hd}{' causal' if causal else ''} {B_H}x{CTX}", "TFLOP/s", flops, make_a,
                 lambda d, run_a=run_a: run_a(K_up, d), lambda d, run_a=run_a: run_a(K_us, d), check_a)

    # ---- report
    date = datetime.date.today().isoformat()
    slug = gpu.lower().replace("nvidia ", "").split()[0]
    os.makedirs(args.out, exist_ok=True)
    meta = {"date": date, "gpu": gpu, "torch": torch.__version__, "triton": up.__version__,
            "driver": torch.version.cuda, "host": platform.node(), "copy_gbs": copy_gbs,
            "quick": args.quick, "rep_ms": args.rep}
    with open(os.path.join(args.out, f"{date}-{slug}-cuda-proxy.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = [f"# GPU proxy: triton-metal's CUDA dialect beside upstream Triton ({date})", "",
             f"One {gpu}, one process (`bench/h100_proxy.py`{' --quick' if args.quick else ''}): the same "
             f"kernels (`bench/proxy_kernels.py`), sizes and meta-parameters for both; upstream Triton "
             f"{up.__version__}, torch {torch.__version__} (CUDA {torch.version.cuda}). Medians of "
             f"`triton.testing.do_bench` (CUDA events, L2 flushed). Device copy (torch, device to device): "
             f"**{copy_gbs:.0f} GB/s**, the memory-bound limit.", "",
             "| case | unit | upstream | ours | ours / upstream | ours / copy | check (ours) |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['unit']} | | | | | error: {r['error'][:200]} |")
            continue
        lim = f"{r['ours'] / copy_gbs:.2f}" if r["unit"] == "GB/s" else ""
        lines.append(f"| {r['case']} | {r['unit']} | {r['upstream']:.1f} | {r['ours']:.1f} | "
                     f"{r['ratio']:.2f} | {lim} | {r['check_ours']} |")
    with open(os.path.join(args.out, f"{date}-{slug}-cuda-proxy.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failures else 0


def triton_cdiv(a, b):
    return (a + b - 1) // b


def triton_next_pow2(n):
    return 1 << (n - 1).bit_length()


def x_size(dt):
    import torch
    return torch.tensor([], dtype=dt).element_size()


if __name__ == "__main__":
    sys.exit(main())
