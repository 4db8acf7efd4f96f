"""The measuring parts of bench/e2e.py (the end-to-end benchmark): from the
runtime's build log (TRITON_METAL_BUILD_LOG), the compile time is the union of
the intervals of builds, precompiled-shim builds and links (overlapping runs
counted once), kernel builds counted, failed builds and the `--version` probe
apart; pytest's JUnit outcomes and messages are read back."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

e2e = pytest.importorskip("e2e")


def test_cxx_stats_merges_overlapping_builds(tmp_path):
    log = tmp_path / "cxx.log"
    s = 1_000_000_000
    log.write_text(f"version 0 {s // 10} 0 process\n"            # the probe: 0.1 s, apart
                   f"pch {s // 2} {1 * s} 0 server\n"            # 0.5-1: time, not a kernel
                   f"build {1 * s} {3 * s} 0 server\n"           # 1-3
                   f"build {2 * s} {4 * s} 0 server\n"           # 2-4 overlaps: union 0.5-4
                   f"link {4 * s} {4 * s + s // 4} 0 process\n"  # 4-4.25
                   f"build {5 * s} {6 * s} 0 process\n"          # 5-6
                   f"build {5 * s} {5 * s + s // 2} 1 server\n")  # a failed build, inside 5-6
    st = e2e.cxx_stats(str(log))
    assert st["builds"] == 3 and st["failed_builds"] == 1
    assert st["compile_s"] == pytest.approx(4.75)
    assert st["compile_sum_s"] == pytest.approx(0.5 + 2 + 2 + 0.25 + 1 + 0.5)
    assert st["probe_s"] == pytest.approx(0.1)
    assert e2e.cxx_stats(str(tmp_path / "none")) == {"builds": 0, "failed_builds": 0, "compile_s": 0.0,
                                                     "compile_sum_s": 0.0, "probe_s": 0.0}


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
