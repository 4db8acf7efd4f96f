"""The measuring parts of bench/e2e.py (the end-to-end benchmark): the timing
stand-in for the C++ compiler (bench/e2e_cxx.c) passes the real compiler's
exit status through and logs each call; the compile time is the union of the
builds' intervals (overlapping builds counted once), failed builds and the
`--version` probe apart; pytest's JUnit outcomes and messages are read back."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

e2e = pytest.importorskip("e2e")


def test_cxx_stats_merges_overlapping_builds(tmp_path):
    log = tmp_path / "cxx.log"
    s = 1_000_000_000
    log.write_text(f"version 0 {s // 10} 0\n"            # the probe: 0.1 s, apart
                   f"build {1 * s} {3 * s} 0\n"           # 1-3
                   f"build {2 * s} {4 * s} 0\n"           # 2-4 overlaps: union 1-4
                   f"build {5 * s} {6 * s} 0\n"           # 5-6
                   f"build {5 * s} {5 * s + s // 2} 1\n")  # a failed build, inside 5-6
    st = e2e.cxx_stats(str(log))
    assert st["builds"] == 3 and st["failed_builds"] == 1
    assert st["compile_s"] == pytest.approx(4.0)
    assert st["compile_sum_s"] == pytest.approx(2 + 2 + 1 + 0.5)
    assert st["probe_s"] == pytest.approx(0.1)
    assert e2e.cxx_stats(str(tmp_path / "none")) == {"builds": 0, "failed_builds": 0, "compile_s": 0.0,
                                                     "compile_sum_s": 0.0, "probe_s": 0.0}


def test_cxx_logger_runs_the_real_compiler(tmp_path):
    exe = e2e.build_cxx_logger()
    log = tmp_path / "cxx.log"
    env = dict(os.environ, E2E_CXX_REAL="sh", E2E_CXX_LOG=str(log))
    out = subprocess.run([exe, "-c", 'echo "$0 $1"; exit 3', "a", "b"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 3 and out.stdout == "a b\n"
    out = subprocess.run([exe, "-c", "exit 0", "--version"], env=env, capture_output=True, text=True)
    assert out.returncode == 0
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [(k, code) for k, _, _, code in lines] == [("build", "3"), ("version", "0")]
    assert all(int(t1) >= int(t0) > 0 for _, t0, t1, _ in lines)
    out = subprocess.run([exe, "--version"], env=dict(os.environ, E2E_CXX_REAL=""),
                         capture_output=True, text=True)
    assert out.returncode == 127 and "E2E_CXX_REAL" in out.stderr


def test_junit_outcomes(tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuites><testsuite name="pytest">'
                   '<testcase classname="t" name="a"/>'
                   '<testcase classname="t" name="b"><failure message="AssertionError: x\n  y">tb</failure></testcase>'
                   '<testcase classname="t" name="c"><skipped message="s"/></testcase>'
                   '<testcase classname="t" name="d"><error message="boom">tb</error></testcase>'
                   '</testsuite></testsuites>')
    outcomes, why = e2e.junit(str(xml))
    assert outcomes == {"t::a": "passed", "t::b": "failed", "t::c": "skipped", "t::d": "error"}
    assert why == {"t::b": "AssertionError: x y", "t::d": "boom"}
    assert e2e.counts(outcomes) == {"passed": 1, "failed": 1, "error": 1, "skipped": 1}
