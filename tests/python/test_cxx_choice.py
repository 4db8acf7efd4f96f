# test_cxx_choice.py: which C++ compiler the cpu emulator builds with
# (runtime/cpu/cpu_build.c: toolchain, identify, unfit). The shim's half type is
# _Float16, which clang has on x86-64 from 15 (with bool vectors) and g++ in
# C++ from 12: an older compiler fails on every kernel. So a compiler found on
# PATH that is too old gives way to the next one, a named one
# (TRITON_METAL_CXX) is refused with the reason, and none usable is an error
# listing each; `triton-metal check` reports the same choice.
#
# Old compilers are played by scripts whose predefined macros (`-dM -E`, what
# the runtime asks) say clang 14 or g++ 11, and which otherwise run the real
# compiler: the judgement is the runtime's, not the machine's.
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLANG = shutil.which("clang++-19") or shutil.which("clang++")
GXX = shutil.which("g++")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux toolchains")

KERNEL = textwrap.dedent('''
    import numpy as np
    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def twice(x_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) * 2.0, mask=m)

    x = np.linspace(-3, 3, 300).astype(np.float32)
    want = x * 2
    twice[(3,)](x, 300, BLOCK=128)
    assert (x == want).all()
    print("OK")
''')


def old_compiler(folder, name, real, macros, version):
    """folder/name: a script that says it is an old compiler when asked for
    its version or predefined macros, and runs real otherwise."""
    path = folder / name
    path.write_text(f'#!/bin/sh\ncase "$*" in\n'
                    f'  *-dM*) printf "{macros}";;\n'
                    f'  --version) echo "{version}";;\n'
                    f'  *) exec {real} "$@";;\nesac\n')
    path.chmod(0o755)
    return path


CLANG14 = ("#define __clang__ 1\\n#define __clang_major__ 14\\n#define __GNUC__ 4\\n#define __x86_64__ 1\\n",
           "clang version 14.0.6")
GXX11 = ("#define __GNUC__ 11\\n#define __GNUC_MINOR__ 3\\n#define __x86_64__ 1\\n", "g++ (Debian 11.3.0-12) 11.3.0")


def path_with(tmp_path, **links):
    """A PATH folder with the given compilers (name -> program) and the tools
    a compile needs besides (ld, as), and nothing else."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in ("ld", "as"):
        real = shutil.which(tool)
        if real and not (folder / tool).exists():
            (folder / tool).symlink_to(real)
    for name, prog in links.items():
        if isinstance(prog, tuple):
            old_compiler(folder, name, *prog)
        else:
            (folder / name).symlink_to(prog)
    return str(folder)


def run(tmp_path, env, name="k", log=None):
    script = tmp_path / f"{name}.py"
    script.write_text(KERNEL)
    e = {k: v for k, v in os.environ.items() if k not in ("TRITON_METAL_CXX", "TRITON_METAL_CPU_SEED")}
    e.update(TRITON_METAL_DEVICE="cpu", TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"),
             PYTHONPATH=os.path.join(ROOT, "python"), TRITON_METAL_CPU_SEED="", TRITON_METAL_OPT="fast")
    if log:
        e["TRITON_METAL_BUILD_LOG"] = str(log)
    e.update(env)
    return subprocess.run([sys.executable, str(script)], env=e, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(CLANG is None, reason="no clang++")
@pytest.mark.parametrize("old", ["clang14", "gxx11"])
def test_named_compiler_too_old_is_refused_with_the_reason(tmp_path, old):
    prog = {"clang14": (CLANG, *CLANG14), "gxx11": (CLANG, *GXX11)}[old]
    folder = tmp_path / "old"
    folder.mkdir()
    cxx = old_compiler(folder, "c++old", *prog)
    for attempt in range(2):  # the second from the record: the same words
        r = run(tmp_path, {"TRITON_METAL_CXX": str(cxx)}, log=tmp_path / f"log{attempt}")
        assert r.returncode != 0 and "OK" not in r.stdout
        assert f"TRITON_METAL_CXX={cxx} cannot build the cpu device's kernels" in r.stderr, r.stderr
        why = "clang 14 is too old: the emulator needs clang 15 or newer" if old == "clang14" \
            else "g++ 11 is too old: the emulator needs g++ 12 or newer"
        assert why in r.stderr, r.stderr
        kinds = [line.split()[0] for line in (tmp_path / f"log{attempt}").read_text().splitlines()] \
            if (tmp_path / f"log{attempt}").exists() else []
        assert "build" not in kinds and "pch" not in kinds
        assert kinds.count("version") == (3 if attempt == 0 else 0), kinds  # judged once, then read


@pytest.mark.skipif(CLANG is None, reason="no clang++")
def test_old_clang_on_path_gives_way_to_the_next_compiler(tmp_path):
    # a clang++ too old, then a c++ that is a new clang (g++ skipped: none here)
    path = path_with(tmp_path, **{"clang++": (CLANG, *CLANG14), "c++": CLANG})
    log = tmp_path / "log"
    r = run(tmp_path, {"PATH": path}, log=log)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    kinds = [line.split()[0] for line in log.read_text().splitlines()]
    assert kinds.count("version") == 6 and kinds.count("build") == 1, kinds  # both judged
    # the next process reads both judgements from the cache's records
    log2 = tmp_path / "log2"
    r = run(tmp_path, {"PATH": path}, name="again", log=log2)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    assert not log2.exists() or "version" not in log2.read_text()
    # and `triton-metal check` names the one chosen
    e = {k: v for k, v in os.environ.items() if k != "TRITON_METAL_CXX"}
    e.update(PATH=path, TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    c = subprocess.run([os.path.join(ROOT, "build", "triton-metal"), "check", "--json", "--no-python", "--no-run"],
                       env=e, capture_output=True, text=True, timeout=120)
    assert json.loads(c.stdout)["emulator_cxx"]["path"] == os.path.join(path, "c++"), c.stdout


@pytest.mark.skipif(CLANG is None or GXX is None, reason="needs clang++ and g++")
def test_none_usable_lists_each_and_check_says_so(tmp_path):
    path = path_with(tmp_path, **{"clang++": (CLANG, *CLANG14), "g++": (GXX, *GXX11)})
    r = run(tmp_path, {"PATH": path})
    assert r.returncode != 0 and "OK" not in r.stdout
    msg = r.stderr
    assert "the cpu device found no C++ compiler on PATH that it can use (it needs clang 15 or newer, " \
        "or g++ 12 or newer)" in msg
    assert f"{path}/clang++: clang 14 is too old" in msg and f"{path}/g++: g++ 11 is too old" in msg, msg
    assert "set TRITON_METAL_CXX" in msg
    e = {k: v for k, v in os.environ.items() if k != "TRITON_METAL_CXX"}
    e.update(PATH=path, TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    c = subprocess.run([os.path.join(ROOT, "build", "triton-metal"), "check", "--no-python", "--no-run"],
                       env=e, capture_output=True, text=True, timeout=120)
    assert "none usable" in c.stdout and "clang 14 is too old" in c.stdout, c.stdout


BF16 = textwrap.dedent('''
    import numpy as np
    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def halve_bf16(x_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        v = tl.load(x_ptr + offs, mask=m).to(tl.bfloat16)
        tl.store(x_ptr + offs, (v * 0.5).to(tl.float32), mask=m)

    x = np.array([1.0, -3.0, 8.0], np.float32)
    halve_bf16[(1,)](x, 3, BLOCK=4)
    assert (x == [0.5, -1.5, 4.0]).all(), x
    print("OK")
''')


def clang16(folder, name="clang++"):
    """A clang 16 (its macros and version say so): no __bf16 arithmetic, so
    its kernel compiles fail where the source computes in bfloat, as clang
    16's do; otherwise the real clang."""
    path = folder / name
    path.write_text('#!/bin/sh\ncase "$*" in\n'
                    '  *-dM*) printf "#define __clang__ 1\\n#define __clang_major__ 16\\n#define __x86_64__ 1\\n";;\n'
                    '  --version) echo "Debian clang version 16.0.6 (15~deb12u1)";;\n'
                    '  *" -c -x c++ "*)\n'
                    '    src=$(echo "$*" | /bin/sed "s/.* -c -x c++ \\([^ ]*\\) -o .*/\\1/")\n'
                    '    if /bin/grep -q "bfloat" "$src"; then\n'
                    '      echo "$src:1:1: error: invalid operands to binary expression (\'metal::bfloat\')" >&2; exit 1\n'
                    f'    fi\n    exec {CLANG} "$@";;\n'
                    f'  *) exec {CLANG} "$@";;\nesac\n')
    path.chmod(0o755)
    return path


def check_path(tmp_path, path):
    e = {k: v for k, v in os.environ.items() if k != "TRITON_METAL_CXX"}
    e.update(PATH=path, TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    c = subprocess.run([os.path.join(ROOT, "build", "triton-metal"), "check", "--json", "--no-python", "--no-run"],
                       env=e, capture_output=True, text=True, timeout=120)
    return json.loads(c.stdout)["emulator_cxx"]["path"]


@pytest.mark.skipif(CLANG is None, reason="no clang++")
def test_clang_without_bf16_arithmetic_gives_way_to_one_with_it(tmp_path):
    path = path_with(tmp_path, **{"c++": CLANG})
    clang16(tmp_path / "bin")
    script = tmp_path / "bf.py"
    script.write_text(BF16)
    r = run(tmp_path, {"PATH": path})
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    e = {k: v for k, v in os.environ.items() if k not in ("TRITON_METAL_CXX",)}
    e.update(PATH=path, TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"), TRITON_METAL_DEVICE="cpu",
             PYTHONPATH=os.path.join(ROOT, "python"), TRITON_METAL_CPU_SEED="")
    b = subprocess.run([sys.executable, str(script)], env=e, capture_output=True, text=True, timeout=300)
    assert b.returncode == 0 and "OK" in b.stdout, b.stderr
    assert check_path(tmp_path, path) == os.path.join(path, "c++")


@pytest.mark.skipif(CLANG is None, reason="no clang++")
def test_clang_without_bf16_arithmetic_alone_builds_all_but_bfloat_kernels(tmp_path):
    path = path_with(tmp_path)
    clang16(tmp_path / "bin")
    r = run(tmp_path, {"PATH": path})
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr  # float32: built by it
    assert check_path(tmp_path, path) == os.path.join(path, "clang++")
    script = tmp_path / "bf.py"
    script.write_text(BF16)
    e = {k: v for k, v in os.environ.items() if k not in ("TRITON_METAL_CXX",)}
    e.update(PATH=path, TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"), TRITON_METAL_DEVICE="cpu",
             PYTHONPATH=os.path.join(ROOT, "python"), TRITON_METAL_CPU_SEED="")
    b = subprocess.run([sys.executable, str(script)], env=e, capture_output=True, text=True, timeout=300)
    assert b.returncode != 0 and "OK" not in b.stdout
    assert "C++ compile of kernel 'halve_bf16' failed" in b.stderr, b.stderr
    assert "clang 16 has no __bf16 arithmetic: bfloat16 kernels need clang 17 or newer, or g++ 12 or newer" \
        in b.stderr, b.stderr
