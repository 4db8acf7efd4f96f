# test_emu_tiers.py: the cpu emulator's cold-compile paths seen from Python
# (runtime/cpu/cpu_build.c "optimisation tiers", python/triton_metal/
# autotuner.py _precompile): TRITON_METAL_OPT=fast, full and tiered give the
# same results on float kernels with NaN, infinities and negatives (every bit
# but a NaN's sign: LLVM leaves it unspecified, see tests/unit/test_emu_tiers.c),
# a bad value is refused by name, and an autotuned kernel's configs are all
# built before the first is timed, the choice unchanged.
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def mix(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m, other=0.0)
        s = tl.sum(x * 0.5, axis=0)
        z = tl.exp(x * 11.0) / (x - 1.0) + tl.sqrt(x) - x * x * 0.1 + s
        z = z + tl.maximum(x, 0.5) + tl.minimum(z, x)
        tl.store(y_ptr + offs, z, mask=m)

    rng = np.random.default_rng(3)
    x = (rng.standard_normal(1000) * 6).astype(np.float32)
    x[:7] = [np.nan, np.inf, -np.inf, -0.0, 1.0, 1e-40, -3.0]
    for launch in range(12):  # tiered:1 swaps to -O2 during these
        y = np.zeros_like(x)
        mix[(8,)](x, y, x.size, BLOCK=128)
        if launch == 0:
            first = y.copy()
    np.save(sys.argv[1], np.stack([first, y]))
''')


def run_mode(tmp_path, mode):
    script = tmp_path / "mix.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"{mode.replace(':', '_')}.npy"
    env = dict(os.environ, TRITON_METAL_OPT=mode, TRITON_METAL_DEVICE="cpu",
               TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, str(script), str(out)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return np.load(out)


def same_results(a, b):
    """Equal bits, NaN against NaN of any sign."""
    nan = np.isnan(a) & np.isnan(b)
    return np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[~nan].view(np.uint32),
                                                                       b[~nan].view(np.uint32))


def test_levels_give_the_same_results(tmp_path):
    fast = run_mode(tmp_path, "fast")
    full = run_mode(tmp_path, "full")
    tiered = run_mode(tmp_path, "tiered:1")
    for r in (fast, full, tiered):
        assert np.isnan(r).any() and np.isinf(r).any() and (r < 0).any()
        assert same_results(r[0], r[1])
    assert same_results(fast[1], full[1]) and same_results(tiered[0], fast[0])
    assert same_results(tiered[1], full[1])


def test_bad_opt_value_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRITON_METAL_OPT", "O3")

    @triton.jit
    def one(x_ptr):
        tl.store(x_ptr, 1.0)
    x = np.zeros(1, np.float32)
    with pytest.raises(Exception, match="TRITON_METAL_OPT=O3"):
        one[(1,)](x)


@triton.jit
def spin(x_ptr, n, REPS: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    v = tl.load(x_ptr + offs, mask=m)
    for _ in range(REPS):
        v = v * 0.999 + 0.001
    tl.store(x_ptr + offs, v, mask=m)


CONFIGS = [triton.Config({"REPS": r}, num_warps=1) for r in (4000, 1, 2000, 1000)]


def test_autotune_builds_every_config_first(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRITON_METAL_CACHE_AUTOTUNING", "0")
    choices = []
    for parallel in (True, False):
        at = triton.autotune(configs=CONFIGS, key=["n"])(spin)
        built_at_first_bench = []
        orig_bench = at._bench

        def bench(*args, config, **meta):
            if not built_at_first_bench:
                built_at_first_bench.append(sum(
                    c.module is not None for c in spin.cache.values()))
            return orig_bench(*args, config=config, **meta)
        at._bench = bench
        if not parallel:
            at._precompile = lambda *a, **k: None
        spin.cache.clear()
        x = np.ones(4096, np.float32)
        at[lambda meta: (triton.cdiv(4096, meta["BLOCK"]),)](x, x.size, BLOCK=256)
        choices.append(at.best_config)
        # the parallel path built all four before timing one; the serial one none
        assert built_at_first_bench == ([len(CONFIGS)] if parallel else [0])
    assert choices[0] == choices[1] == CONFIGS[1]


def test_toolchain_record(tmp_path):
    """A process reads the compiler's identity from <cache>/cpu/toolchain-*
    instead of running it twice more; a garbled record is not believed (the
    compiler is asked again, the record written anew)."""
    import shutil
    cxx = shutil.which("clang++-19") or shutil.which("clang++") or shutil.which("g++")
    log = tmp_path / "calls"
    wrap = tmp_path / "cxx"
    wrap.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {cxx} "$@"\n')
    wrap.chmod(0o755)
    script = tmp_path / "one.py"
    script.write_text(textwrap.dedent('''
        import numpy as np
        import triton_metal as triton
        import triton_metal.language as tl

        @triton.jit
        def one(x_ptr):
            tl.store(x_ptr, tl.load(x_ptr) + 1.0)
        x = np.zeros(1, np.float32)
        one[(1,)](x)
        assert x[0] == 1.0
    '''))
    env = dict(os.environ, TRITON_METAL_CXX=str(wrap), TRITON_METAL_DEVICE="cpu", TRITON_METAL_OPT="fast",
               TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=os.path.join(ROOT, "python"))

    def run():
        log.write_text("")
        r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return log.read_text().split()

    first = run()
    assert "--version" in first and "-print-libgcc-file-name" in first
    records = list((tmp_path / "cache" / "cpu").glob("toolchain-*"))
    assert len(records) == 1
    good = records[0].read_bytes()
    assert run() == []  # identity from the record; the kernel from the disk cache
    records[0].write_bytes(good.replace(b"clang", b"clanq").replace(b"g++", b"g+-"))
    again = run()
    assert "--version" in again
    assert records[0].read_bytes() == good


SETTLE_SCRIPT = textwrap.dedent('''
    import os, sys
    import numpy as np
    import triton_metal as triton
    sys.path.insert(0, sys.argv[1])
    from test_emu_tiers import spin  # this file's kernel

    x = np.ones(8192, np.float32)

    def bench(reps):
        return triton.testing.do_bench(
            lambda: spin[(8,)](x, x.size, REPS=reps, BLOCK=1024), warmup=5, rep=40)

    # the settled kernel first, then one that only ever has -O0 code (its
    # own specialization: 1 more step), and the settled one again
    settled = bench(600)
    os.environ["TRITON_METAL_OPT"] = "fast"
    slow = bench(601)
    os.environ["TRITON_METAL_OPT"] = "tiered:1000000"
    print(settled, slow, bench(600))
''')


@pytest.mark.parametrize("device", ["cpu", "metal-sim"])
def test_do_bench_times_optimised_code(tmp_path, device):
    """do_bench settles the kernels its first call launched: under a tier that
    never swaps by itself (tiered:1000000) it times -O2 code, several times
    faster than the same kernel's -O0 code (which it timed before the settle,
    and which made the autotuner pick a 16x slower config once its own -O2
    build had landed while the other config's had not)."""
    script = tmp_path / "settle.py"
    script.write_text(SETTLE_SCRIPT)
    env = dict(os.environ, TRITON_METAL_OPT="tiered:1000000", TRITON_METAL_DEVICE=device,
               TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"), TRITON_METAL_CPU_THREADS="1",
               PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, str(script), os.path.dirname(os.path.abspath(__file__))], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    settled, slow, again = map(float, r.stdout.split())
    assert slow >= 3 * max(settled, again), (settled, slow, again)


LIBM_SCRIPT = textwrap.dedent('''
    import numpy as np
    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def calls_libm(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m, other=1.0)
        y = tl.exp(x) + tl.log(tl.abs(x) + 1.0) * tl.sin(x) + tl.math.pow(tl.abs(x), 0.37) + tl.math.exp2(-x)
        tl.store(y_ptr + offs, y, mask=m)

    rng = np.random.default_rng(11)
    x = (rng.standard_normal(1000) * 4).astype(np.float32)
    x[:4] = [0.0, -0.0, 80.0, -80.0]
    y = np.full_like(x, np.nan)
    calls_libm[(4,)](x, y, x.size, BLOCK=256)
    d = x.astype(np.float64)
    ref = np.exp(d) + np.log(np.abs(d) + 1.0) * np.sin(d) + np.abs(d) ** 0.37 + np.exp2(-d)
    np.testing.assert_allclose(y, ref, rtol=2e-6, atol=1e-6)
    print("ok")
''')


def _needed(path):
    """The DT_NEEDED names of a 64-bit little-endian ELF shared object."""
    import struct
    data = open(path, "rb").read()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, path
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = []
    for _name, typ, _fl, _addr, off, size, link, _info, _al, entsize in secs:
        if typ != 6:  # SHT_DYNAMIC
            continue
        strtab = secs[link]
        for j in range(0, size, entsize):
            tag, val = struct.unpack_from("<qQ", data, off + j)
            if tag == 1:  # DT_NEEDED
                s = strtab[4] + val
                names.append(data[s:data.index(b"\0", s)].decode())
    return names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's LIBM_SO path (Linux only)")
@pytest.mark.parametrize("opt", ["fast", "full"])
def test_kernels_bind_libm_without_linking_it(tmp_path, opt):
    """ld links kernel objects without -lm (reading libm's symbol table was
    half of a small kernel's link); the runtime puts libm in the global scope
    before it opens one. A kernel calling exp, log, sin, pow and exp2 still
    binds them and computes them (float64 reference, zeros, +-80), and its
    object names no libm (nor anything but libc's and the loader's)."""
    script = tmp_path / "libm.py"
    script.write_text(LIBM_SCRIPT)
    cache = tmp_path / "cache"
    env = dict(os.environ, TRITON_METAL_DEVICE="cpu", TRITON_METAL_OPT=opt, TRITON_METAL_CACHE_DIR=str(cache),
               PYTHONPATH=os.path.join(ROOT, "python"))
    env.pop("TRITON_METAL_CXX", None)
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    objs = sorted((cache / "cpu").glob("*.so"))
    assert objs, "no kernel object in the cache"
    record = next((cache / "cpu").glob("toolchain-*")).read_text()
    for o in objs:
        needed = _needed(o)
        assert all(n.startswith(("libc.so", "ld-linux")) for n in needed), (o, needed, record)
