"""Golden and error tests through the CLI.

tests/golden/NAME.py: first line `# golden: ARGS`; the emitted MSL must equal
NAME.metal byte for byte (regenerate with `make golden-update`, review the diff).
tests/errors/NAME.py: `# args: ARGS` and `# expect: LINE:COL: error: MESSAGE`; the
CLI must exit 1 and print FILE:LINE:COL: error: MESSAGE, the source line and a caret.
"""
import pathlib
import shlex
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLI = ROOT / "build" / "triton-metal"


def header(path, key):
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}: "):
            return line[len(key) + 4:]
    raise AssertionError(f"{path} has no '# {key}:' line")


def run_cli(path, args):
    return subprocess.run([str(CLI), "compile", str(path.relative_to(ROOT)), *shlex.split(args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "golden").glob("*.py")), ids=lambda p: p.stem)
def test_golden(path):
    r = run_cli(path, header(path, "golden"))
    assert r.returncode == 0, r.stderr
    expected = path.with_suffix(".metal").read_text()
    assert r.stdout == expected, f"{path.stem}: emitted MSL differs from the golden; run `make golden-update` and review"


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "errors").glob("*.py")), ids=lambda p: p.stem)
def test_error(path):
    r = run_cli(path, header(path, "args"))
    want = header(path, "expect")
    assert r.returncode == 1, f"expected exit 1, got {r.returncode}: {r.stdout}{r.stderr}"
    assert r.stdout == ""
    rel = path.relative_to(ROOT)
    first, source_line, caret = r.stderr.splitlines()[:3]
    assert first.startswith(f"{rel}:{want}"), first
    line_no, col = (int(x) for x in want.split(":")[:2])
    assert source_line[4:] == path.read_text().splitlines()[line_no - 1]
    assert caret[4:] == " " * (col - 1) + "^"


def test_ir_dump():
    path = ROOT / "tests" / "golden" / "vector_add.py"
    r = run_cli(path, header(path, "golden") + " -d ir")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "func add_kernel(x_ptr: *fp32, y_ptr: *fp32, output_ptr: *fp32, n_elements: i32) num_warps=4 {"
    assert any(l.split()[:4] == ["%11", "=", "cmp", "lt"] and l.rstrip().endswith("@11:20") for l in lines), r.stdout
    assert any(l.startswith("  store %20, %18, %11 : <1024x*fp32>") for l in lines)


def test_signature_errors():
    path = ROOT / "tests" / "golden" / "vector_add.py"
    r = run_cli(path, "--kernel add_kernel --signature *fp32,*fp32 -D BLOCK_SIZE=1024")
    assert r.returncode == 2 and "missing entry for parameter 'output_ptr'" in r.stderr
    r = run_cli(path, "--kernel add_kernel --signature *fp32,*fp32,*fp32,i32")
    assert r.returncode == 2 and "BLOCK_SIZE" in r.stderr
    r = run_cli(path, "--kernel nope --signature *fp32")
    assert r.returncode == 1 and "no function named 'nope'" in r.stderr


def test_specialization_hints_in_signature():
    path = ROOT / "tests" / "golden" / "vector_add.py"
    r = run_cli(path, "--kernel add_kernel --signature *fp32:16,*fp32:16,*fp32:16,i32:1 -D BLOCK_SIZE=1024")
    assert r.returncode == 0, r.stderr
    # n_elements == 1 is compiled as a constant: no buffer for it
    assert "n_elements" not in r.stdout and "< 1;" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["-D", "BLOCK_SIZE=999999999999999999999999999"], "-D BLOCK_SIZE: 999999999999999999999999999 does not fit in 64 bits"),
    (["-D", "BLOCK_SIZE=1024", "--num-warps", "lots"], "--num-warps must be a power of 2 from 1 to 32, got 'lots'"),
    (["-D", "BLOCK_SIZE=1024", "--num-warps", "3"], "--num-warps must be a power of 2 from 1 to 32, got '3'"),
])
def test_cli_refuses_bad_numbers(args, message):
    # issue 16 item 9: a huge -D value once compiled as INT64_MIN, and a bad
    # --num-warps silently meant the default
    r = subprocess.run([str(CLI), "compile", str(ROOT / "tests" / "golden" / "vector_add.py"), "--kernel",
                        "add_kernel", "--signature", "*fp32,*fp32,*fp32,i32", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr
