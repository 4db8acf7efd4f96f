"""Regression inputs found by the fuzzer (tests/fuzz/regress/*.py).

Each file carries `# args: CLI ARGS` and `# expect: PREFIX` (the start of the
diagnostic after `FILE:`, e.g. `7:` or `6:5: error: unexpected indent`); the
CLI must exit 1 (or 0 when PREFIX is `ok`) within the time limit, never die on
a signal. `# xfail: REASON` marks an open finding (docs/reliability.md): the
test is expected to fail and flips to an error when the bug is fixed.
"""
import pathlib
import shlex
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = ROOT / "build" / "triton-metal"


def header(path, key):
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}:"):
            return line[len(key) + 3:].strip()
    return None


def cases():
    for p in sorted((ROOT / "tests" / "fuzz" / "regress").glob("*.py")):
        reason = header(p, "xfail")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(p, marks=marks, id=p.stem)


@pytest.mark.parametrize("path", cases())
def test_regression_input(path):
    rel = path.relative_to(ROOT)
    r = subprocess.run([str(CLI), "compile", str(rel), *shlex.split(header(path, "args"))],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    want = header(path, "expect")
    assert r.returncode >= 0, f"killed by signal {-r.returncode}"
    if want == "ok":
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    assert r.stderr.startswith(f"{rel}:{want}"), r.stderr
