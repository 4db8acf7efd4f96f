"""Writes the fuzzer's seed corpus: every kernel in the tests and examples.

Usage: python3 tests/fuzz/seeds.py OUTDIR

tests/errors/*.py and tests/golden/*.py are copied as they are (their header
names the kernel and signature). For each @jit function of tests/exec,
tests/python and examples, a seed holds the imports, every @jit function of
its file (helpers included) and an `# args:` line naming the kernel, with a
signature guessed from the parameter names and checked with the CLI; the
regression inputs in tests/fuzz/regress/ are added too.
"""
import ast
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = ROOT / "build" / "triton-metal"
HEADER = "import triton_metal as triton\nimport triton_metal.language as tl\n"


def is_jit(fn):
    for d in fn.decorator_list:
        d = d.func if isinstance(d, ast.Call) else d
        name = d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", "")
        if name == "jit":
            return True
    return False


def guesses(fn):
    """Signatures to try: fp32 pointers for *_ptr names, then other dtypes."""
    args = fn.args.args
    for ptr in ("*fp32", "*i32", "*fp16"):
        sig, defs = [], []
        for a in args:
            ann = ast.unparse(a.annotation) if a.annotation else ""
            if "constexpr" in ann:
                defs.append(f"-D {a.arg}=16")
            elif a.arg.endswith("ptr") or a.arg == "p":
                sig.append(ptr)
            else:
                sig.append("i32")
        yield f"--kernel {fn.name} --signature {','.join(sig) or '_'} {' '.join(defs)}".strip()


def compiles(text, args):
    with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
        f.write(text)
        f.flush()
        argv = [str(CLI), "compile", f.name] + [a for a in args.split() if a != "_"]
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    n = ok = 0
    for d in ("tests/errors", "tests/golden", "tests/fuzz/regress"):
        for p in sorted((ROOT / d).glob("*.py")):
            (out / f"{p.parent.name}_{p.stem}.py").write_text(p.read_text())
            n += 1
    files = sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    for p in files:
        if any(part in ("errors", "golden", "fuzz") for part in p.parts):
            continue
        src = p.read_text()
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        jits = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and is_jit(f)]
        if not jits:
            continue
        # get_source_segment drops decorators: put @triton.jit back
        body = "\n\n".join("@triton.jit\n" + ast.get_source_segment(src, f) for f in jits)
        for f in jits:
            tries = list(guesses(f))
            args = next((a for a in tries if compiles(HEADER + body, a)), None)
            ok += args is not None
            args = args or tries[0]
            (out / f"{p.stem}_{f.name}.py").write_text(f"# args: {args}\n{HEADER}\n\n{body}\n")
            n += 1
    print(f"seeds: {n} files in {out} ({ok} generated kernels compile as guessed)")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
