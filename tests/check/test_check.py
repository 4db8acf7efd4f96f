"""`triton-metal check` and triton_metal.check_compatibility(): every preset
through TRITON_METAL_HW, the JSON schema, the acceptance lines of issue 9, exit
codes, the Linux report text and the environment variables' effect on the report.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CLI = ROOT / "build" / "triton-metal"
PRESETS = ["M1", "M1-Pro", "M1-Max", "M1-Ultra", "M2", "M2-Pro", "M2-Max", "M2-Ultra",
           "M3", "M3-Pro", "M3-Max", "M3-Ultra", "M4", "M4-Pro", "M4-Max", "M5"]
FAMILY = {1: 7, 2: 8, 3: 9, 4: 9, 5: 10}
VARS = ["TRITON_BACKEND", "TRITON_METAL_DEBUG", "TRITON_METAL_OPT_LEVEL", "TRITON_METAL_DISABLE_AUTOTUNING",
        "TRITON_METAL_CACHE_DIR", "TRITON_METAL_DEVICE", "TRITON_METAL_HW"]


def run(*args, hw=None, env=None, tmp=None, wrap=()):
    e = {k: v for k, v in os.environ.items() if k not in VARS}
    if tmp is not None:
        e["TRITON_METAL_CACHE_DIR"] = str(tmp)
    if hw is not None:
        e["TRITON_METAL_HW"] = hw
    e.update(env or {})
    return subprocess.run([*wrap, str(CLI), "check", *args], capture_output=True, text=True, timeout=120, env=e)


def report(hw=None, env=None, tmp=None, run_probe=False, wrap=()):
    args = ["--json", "--no-python"] + ([] if run_probe else ["--no-run"])
    r = run(*args, hw=hw, env=env, tmp=tmp, wrap=wrap)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


SCHEMA = {
    "schema": int, "triton_metal_version": str, "hardware": dict, "gpu_family_name": (str, type(None)),
    "target": dict, "kernel_features": dict, "gpu_features": list, "compiler_plan": dict, "devices": dict,
    "default_device": (str, type(None)), "cache": dict, "emulator_cxx": dict, "python": dict,
    "environment": dict, "environment_problems": (str, type(None)), "checks": list, "verdict": dict,
}
HARDWARE = {"source": str, "os_name": str, "os_version": str, "arch": str, "apple_silicon": bool, "chip": str,
            "model": str, "generation": int, "variant": str, "gpu_family": int, "gpu_cores": int,
            "memory_bytes": int, "working_set_bytes": int, "msl_version": str, "metal_reported": bool}
TARGET = {"name": str, "gpu_family": int, "msl_version": int, "simd_width": int, "default_num_warps": int,
          "max_vector_bytes": int, "max_threads_per_threadgroup": int, "threadgroup_mem_bytes": int,
          "has_bfloat": bool, "has_simdgroup_matrix": bool, "has_matmul2d": bool, "has_atomic64": bool,
          "has_float_atomics": bool}


def check_schema(r):
    assert set(r) == set(SCHEMA)
    for k, t in SCHEMA.items():
        assert isinstance(r[k], t), k
    for part, spec in (("hardware", HARDWARE), ("target", TARGET)):
        assert set(r[part]) == set(spec), part
        for k, t in spec.items():
            assert isinstance(r[part][k], t), f"{part}.{k}"
    assert set(r["kernel_features"]) == {"simdgroup_reduction", "simdgroup_matrix", "bfloat", "atomic64",
                                         "float_atomics", "matmul2d"}
    for f in r["kernel_features"].values():
        assert isinstance(f["available"], bool) and (f["why_not"] is None) == f["available"]
    for f in r["gpu_features"]:
        assert f["kind"] in ("codegen", "transparent", "graphics", "runtime")
        assert f["changes_codegen"] == (f["kind"] == "codegen")
    assert set(r["devices"]) == {"metal", "cpu"}
    for c in r["checks"]:
        assert c["status"] in ("ok", "info", "warn", "fail")
        assert (c["tip"] is not None) == (c["status"] in ("warn", "fail")), c
    assert set(r["environment"]) >= set(VARS)
    assert isinstance(r["verdict"]["ok"], bool)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset(preset, tmp_path):
    rc, r = report(hw=preset, tmp=tmp_path)
    check_schema(r)
    gen = int(preset[1])
    hw, t, plan = r["hardware"], r["target"], r["compiler_plan"]
    assert hw["source"] == f"preset {preset}"
    assert hw["apple_silicon"] and hw["generation"] == gen and hw["os_name"] == "macOS"
    assert hw["chip"] == "Apple " + preset.replace("-", " ")
    assert hw["gpu_family"] == FAMILY[gen] == t["gpu_family"]
    assert r["gpu_family_name"] == f"Apple {FAMILY[gen]}"
    assert t["name"] == preset
    assert t["has_simdgroup_matrix"] and t["has_bfloat"]
    assert t["has_matmul2d"] == (gen == 5) and t["has_atomic64"] == (gen >= 3)
    # the plan is read from the target fields
    assert plan["dot"] == ("matmul2d" if t["has_matmul2d"] else "simdgroup_matrix")
    assert plan["vector_bytes"] == t["max_vector_bytes"]
    assert plan["default_num_warps"] == t["default_num_warps"]
    names = {f["name"]: f for f in r["gpu_features"]}
    dc = [f for n, f in names.items() if n.startswith("Dynamic Caching")]
    assert bool(dc) == (gen >= 3)
    assert all(f["kind"] == "transparent" and not f["changes_codegen"] for f in dc)
    assert any(n.startswith("Neural Accelerators") for n in names) == (gen == 5)
    if sys.platform != "darwin":
        assert rc == 0 and r["verdict"]["ok"] and r["verdict"]["device"] == "cpu"
        assert not r["devices"]["metal"]["available"]


def test_acceptance_m3_max(tmp_path):
    rc, r = report(hw="M3-Max", tmp=tmp_path)
    assert r["hardware"]["chip"] == "Apple M3 Max" and r["hardware"]["variant"] == "Max"
    assert r["gpu_family_name"] == "Apple 9"
    assert r["kernel_features"]["bfloat"]["available"]
    assert r["kernel_features"]["simdgroup_matrix"]["available"]


def test_acceptance_m1(tmp_path):
    _, r = report(hw="M1", tmp=tmp_path)
    assert r["gpu_family_name"] == "Apple 7"
    assert not r["kernel_features"]["matmul2d"]["available"]
    assert not r["target"]["has_matmul2d"]
    assert "M5" in r["kernel_features"]["matmul2d"]["why_not"]


def test_acceptance_macos13_no_bfloat(tmp_path):
    _, r = report(hw="M2@13.5", tmp=tmp_path)
    bf = r["kernel_features"]["bfloat"]
    assert not bf["available"] and "MSL 3.1" in bf["why_not"] and "macOS 14" in bf["why_not"]
    assert r["hardware"]["msl_version"] == "3.0" and not r["target"]["has_bfloat"]
    statuses = {c["id"]: c for c in r["checks"]}
    assert statuses["os"]["status"] == "warn" and statuses["bfloat"]["status"] == "warn"
    assert "macOS 14" in statuses["bfloat"]["tip"]


def test_old_macos_fails_os_item(tmp_path):
    _, r = report(hw="M1@12.6", tmp=tmp_path)
    os_item = next(c for c in r["checks"] if c["id"] == "os")
    assert os_item["status"] == "fail" and "13.5" in os_item["message"]


def test_m5_needs_macos26_for_matmul2d(tmp_path):
    _, r = report(hw="M5@15.0", tmp=tmp_path)
    assert not r["target"]["has_matmul2d"] and "macOS 26" in r["kernel_features"]["matmul2d"]["why_not"]
    assert r["compiler_plan"]["dot"] == "simdgroup_matrix"


@pytest.mark.parametrize("preset", ["Linux-x86_64", "Intel-Mac"])
def test_non_apple_presets(preset, tmp_path):
    _, r = report(hw=preset, tmp=tmp_path)
    check_schema(r)
    assert not r["hardware"]["apple_silicon"] and r["hardware"]["gpu_family"] == 0
    assert r["gpu_family_name"] is None and r["target"]["name"] == "generic" and r["gpu_features"] == []
    assert r["compiler_plan"]["dot"] == "fma"
    silicon = next(c for c in r["checks"] if c["id"] == "apple_silicon")
    assert silicon["status"] == ("fail" if preset == "Intel-Mac" else "info")


def test_json_file_injection(tmp_path):
    f = tmp_path / "mac.json"
    f.write_text(json.dumps({"os_name": "macOS", "os_version": "14.4", "chip": "Apple M2 Ultra",
                             "gpu_cores": 60, "memory_bytes": 64 << 30, "working_set_bytes": 48 << 30}))
    _, r = report(hw=str(f), tmp=tmp_path)
    assert r["hardware"]["source"] == f"file {f}" and r["hardware"]["gpu_cores"] == 60
    assert r["target"]["gpu_family"] == 8 and r["target"]["msl_version"] == 310
    # a report replays as a hardware file
    g = tmp_path / "report.json"
    g.write_text(json.dumps(r))
    _, r2 = report(hw=str(g), tmp=tmp_path)
    keep = set(HARDWARE) - {"source"}
    assert {k: r2["hardware"][k] for k in keep} == {k: r["hardware"][k] for k in keep}


@pytest.mark.parametrize("hw,msg", [("M9", "unknown hardware preset 'M9'"),
                                    ("/nonexistent.json", "cannot read hardware file"),
                                    ("M2@x", "not an OS version")])
def test_bad_hw_is_a_clear_error(hw, msg, tmp_path):
    r = run("--json", "--no-python", "--no-run", hw=hw, tmp=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert f"TRITON_METAL_HW={hw}" in r.stderr and msg in r.stderr


def test_bad_json_file_names_line_and_column(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{"os_name": "macOS",\n "gpu_cores": 8,,\n}')
    r = run("--no-python", "--no-run", hw=str(f), tmp=tmp_path)
    assert r.returncode == 2 and f"{f}:2:17: invalid JSON" in r.stderr


def test_usage():
    assert run("--bogus").returncode == 2


@pytest.mark.skipif(sys.platform == "darwin", reason="the Linux report")
def test_linux_text_report(tmp_path):
    r = run("--no-python", tmp=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "Metal is not available" in out and "kernels run on the CPU emulator" in out
    assert "Verdict: OK: kernels run on the cpu device, the CPU emulator of Metal" in out
    assert "probe kernel ran correctly" in out
    assert "Troubleshooting" in out and "metal: Metal needs macOS 13.5+ on Apple silicon" in out


@pytest.mark.skipif(sys.platform == "darwin", reason="the Linux report")
def test_linux_json_report_runs_probe(tmp_path):
    rc, r = report(tmp=tmp_path, run_probe=True)
    check_schema(r)
    assert rc == 0 and r["verdict"] == {"ok": True, "device": "cpu", "summary": r["verdict"]["summary"]}
    assert r["devices"]["cpu"]["probe"] == "passed" and r["hardware"]["source"] == "detected"
    assert r["target"]["name"] == "generic"


def test_no_device_exits_1(tmp_path):
    # no C++ compiler for the emulator, and (on Linux) no Metal: nothing can run
    if sys.platform == "darwin":
        pytest.skip("Metal may run here")
    env = {"TRITON_METAL_CXX": "/nonexistent/c++"}
    r = run("--json", "--no-python", env=env, tmp=tmp_path)
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    assert not rep["verdict"]["ok"] and rep["devices"]["cpu"]["probe"] == "failed"
    cxx = next(c for c in rep["checks"] if c["id"] == "emulator_cxx")
    assert cxx["status"] == "fail" and "TRITON_METAL_CXX" in cxx["tip"]


def unwritable_cache_item(r, env_value):
    assert r["cache"]["path"] == env_value and not r["cache"]["writable"], r["cache"]
    item = next(c for c in r["checks"] if c["id"] == "cache")
    assert item["status"] == "fail" and "TRITON_METAL_CACHE_DIR" in item["tip"]


def test_cache_dir_effect(tmp_path):
    _, r = report(tmp=tmp_path)
    assert r["cache"] == {"path": str(tmp_path), "source": "TRITON_METAL_CACHE_DIR", "writable": True,
                          "error": None}
    # a path below a regular file cannot be created by anyone, root included
    (tmp_path / "file").write_text("not a folder")
    below = str(tmp_path / "file" / "cache")
    _, r = report(env={"TRITON_METAL_CACHE_DIR": below})
    unwritable_cache_item(r, below)


def test_cache_dir_read_only_by_permissions(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that ignores permissions: test_cache_dir_read_only_mount covers it")
        _, r = report(env={"TRITON_METAL_CACHE_DIR": str(ro)})
        unwritable_cache_item(r, str(ro))
    finally:
        ro.chmod(0o700)


def test_cache_dir_read_only_mount(tmp_path, read_only_mount):
    ro = tmp_path / "ro"
    ro.mkdir()
    _, r = report(env={"TRITON_METAL_CACHE_DIR": str(ro)}, wrap=read_only_mount(ro))
    unwritable_cache_item(r, str(ro))


def test_env_vars_effect(tmp_path):
    env = {"TRITON_BACKEND": "metal", "TRITON_METAL_DEBUG": "1", "TRITON_METAL_OPT_LEVEL": "1",
           "TRITON_METAL_DISABLE_AUTOTUNING": "1", "TRITON_METAL_DEVICE": "cpu"}
    _, r = report(env=env, tmp=tmp_path)
    e = r["environment"]
    assert e["TRITON_METAL_OPT_LEVEL"] == {"value": "1", "effective": "1"}
    assert e["TRITON_METAL_DEBUG"]["effective"] == "1"
    assert e["TRITON_METAL_DISABLE_AUTOTUNING"]["effective"] == "1"
    assert e["TRITON_BACKEND"]["effective"] == "metal"
    assert r["default_device"] == "cpu" and r["environment_problems"] is None
    _, r = report(tmp=tmp_path)
    assert r["environment"]["TRITON_METAL_OPT_LEVEL"] == {"value": None, "effective": "3"}
    assert r["environment"]["TRITON_METAL_DEBUG"]["effective"] == "0"
    _, r = report(hw="M4", tmp=tmp_path)
    assert r["environment"]["TRITON_METAL_HW"] == {"value": "M4", "effective": "preset M4"}


def test_bad_env_values_warn(tmp_path):
    env = {"TRITON_BACKEND": "cuda", "TRITON_METAL_OPT_LEVEL": "9", "TRITON_METAL_DEBUG": "perhaps"}
    _, r = report(env=env, tmp=tmp_path)
    p = r["environment_problems"]
    assert "TRITON_BACKEND=cuda" in p and "TRITON_METAL_OPT_LEVEL=9" in p and "TRITON_METAL_DEBUG=perhaps" in p
    item = next(c for c in r["checks"] if c["id"] == "environment")
    assert item["status"] == "warn" and item["tip"]


@pytest.mark.skipif(sys.platform == "darwin", reason="metal opens on a Mac")
def test_device_env_names_unavailable_device(tmp_path):
    rc, r = report(env={"TRITON_METAL_DEVICE": "metal"}, tmp=tmp_path, run_probe=True)
    assert r["default_device"] is None
    item = next(c for c in r["checks"] if c["id"] == "default_device")
    assert item["status"] == "fail" and "TRITON_METAL_DEVICE" in item["tip"]
    assert rc == 0 and r["verdict"]["device"] == "cpu"  # kernels can still run on some device


def test_python_check_compatibility(tmp_path):
    code = ("import json, triton_metal as t; r = t.check_compatibility(run=False); "
            "print(json.dumps(r))")
    e = {k: v for k, v in os.environ.items() if k not in VARS}
    e.update(PYTHONPATH=str(ROOT / "python"), TRITON_METAL_HW="M3-Max", TRITON_METAL_CACHE_DIR=str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=e)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    check_schema(r)
    assert r["gpu_family_name"] == "Apple 9" and r["python"]["checked"]
    assert r["python"]["python"] == ".".join(map(str, sys.version_info[:3]))
    try:
        import importlib.metadata as md
        torch_version = md.version("torch")
    except Exception:
        torch_version = None
    assert r["python"]["torch"]["version"] == torch_version


def test_python_module_cli(tmp_path):
    e = {k: v for k, v in os.environ.items() if k not in VARS}
    e.update(PYTHONPATH=str(ROOT / "python"), TRITON_METAL_CACHE_DIR=str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "triton_metal.check", "--no-run"], capture_output=True,
                       text=True, timeout=120, env=e)
    assert p.returncode == 0, p.stderr
    assert "compatibility check" in p.stdout and "Verdict: OK" in p.stdout
    assert "RuntimeWarning" not in p.stderr
    e["TRITON_METAL_HW"] = "nope"
    p = subprocess.run([sys.executable, "-m", "triton_metal.check", "--json"], capture_output=True,
                       text=True, timeout=120, env=e)
    assert p.returncode == 2 and "unknown hardware preset 'nope'" in p.stderr


DOT_SCRIPT = """
import numpy as np, triton_metal as triton, triton_metal.language as tl
@triton.jit
def dot(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    c = tl.dot(tl.load(a_ptr + rm[:, None] * K + rk[None, :]), tl.load(b_ptr + rk[:, None] * N + rn[None, :]))
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], c)
rng = np.random.default_rng(1)
a = rng.standard_normal((32, 16)).astype(np.float16)
b = rng.standard_normal((16, 32)).astype(np.float16)
c = np.full((32, 32), np.nan, np.float32)
k = dot[(1,)](a, b, c, M=32, N=32, K=16)
np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-4)
msl = k.asm["msl"]
print("simdgroup" if "simdgroup_multiply_accumulate" in msl else "", "matmul2d" if "matmul2d" in msl else "")
"""


@pytest.mark.skipif(sys.platform == "darwin", reason="the Linux report")
def test_emulator_runs_simdgroup_matrix_and_tensor_ops(tmp_path):
    """The report says what the emulator does: its default (generic) target uses
    neither simdgroup_matrix nor tensor ops, and it runs both for a target that
    has them. (It used to say the emulator lacks them. Mutant, tools/mutants
    check-emulator-claims: that text back.)"""
    _, r = report(tmp=tmp_path)
    sgm, mm = r["kernel_features"]["simdgroup_matrix"], r["kernel_features"]["matmul2d"]
    assert not sgm["available"] and not mm["available"]  # on the generic target
    for f, hw in ((sgm, "M3-Max"), (mm, "M5")):
        assert f["why_not"].startswith("the generic target does not use it; the cpu emulator runs"), f
        assert f"TRITON_METAL_HW={hw}" in f["why_not"], f
        assert "not implemented" not in f["why_not"] and "no tensor ops" not in f["why_not"], f
    text = run("--no-run", "--no-python", tmp=tmp_path).stdout
    assert "what the cpu emulator implements" not in text
    # and it does run them: a dot compiled for each target, on the emulator, right
    for hw, path in (("M3-Max", "simdgroup"), ("M5", "matmul2d")):
        _, rh = report(hw=hw, tmp=tmp_path)
        assert rh["kernel_features"][{"simdgroup": "simdgroup_matrix"}.get(path, path)]["available"]
        env = {k: v for k, v in os.environ.items() if k not in VARS}
        env.update(TRITON_METAL_HW=hw, TRITON_METAL_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT / "python"),
                   TRITON_METAL_DEVICE="cpu")
        script = tmp_path / "dot_on_emulator.py"  # @jit reads the kernel's source from its file
        script.write_text(DOT_SCRIPT)
        p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
        assert p.returncode == 0, p.stderr[-3000:]
        assert path in p.stdout.split(), p.stdout


def test_gxx_gets_a_clang_tip(tmp_path):
    """g++ runs the emulator, slower: the check warns, with a tip toward
    clang++ (the precompiled shim and the compile server are clang's), and
    the verdict stays ok; a clang compiler gets no warning. A g++ reached
    through a link named c++ is still g++."""
    import shutil
    gxx = shutil.which("g++")
    if not gxx:
        pytest.skip("no g++ on PATH")
    (tmp_path / "bin").mkdir()
    link = tmp_path / "bin" / "c++"
    link.symlink_to(gxx)
    for cxx in (gxx, str(link)):
        rc, r = report(env={"TRITON_METAL_CXX": cxx}, tmp=tmp_path)
        item = next(c for c in r["checks"] if c["id"] == "emulator_cxx")
        assert item["status"] == "warn" and "clang-19" in (item["tip"] or ""), item
        assert rc == 0 or sys.platform == "darwin", r["verdict"]
    clang = shutil.which("clang++-19") or shutil.which("clang++")
    if clang:
        _, r = report(env={"TRITON_METAL_CXX": clang}, tmp=tmp_path)
        item = next(c for c in r["checks"] if c["id"] == "emulator_cxx")
        assert item["status"] == "ok" and item["tip"] is None, item
