# test_cxx_fork.py: the cpu emulator's compile server (runtime/cpu/fork/
# cxx_fork.c, runtime/cpu/cpu_fork.c): a clang toolchain's compiles are served
# by a forked copy of the compiler loaded once per process. What it must keep:
# the same code as a plain compiler process, the compiler's errors and exit
# status, a background build's lower priority, a working compile when the
# server dies or the process forks, and nothing for a compiler it cannot serve.
# Each case runs in its own process with its own cache; the runtime's build
# log (TRITON_METAL_BUILD_LOG) says which way each compile went.
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLANG = shutil.which("clang++-19") or shutil.which("clang++")
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the compile server is Linux-only"),
    pytest.mark.skipif(CLANG is None, reason="the compile server serves clang toolchains"),
]

KERNEL = textwrap.dedent('''
    import os, sys
    import numpy as np
    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def axpb(x_ptr, y_ptr, n, A: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m, other=0.0)
        tl.store(y_ptr + offs, x * A + tl.exp(x) - tl.sum(x, axis=0), mask=m)

    def children():
        """This process's children (one that ends while /proc is read is skipped:
        other processes of the machine come and go)."""
        me, out = str(os.getpid()), []
        for p in os.listdir("/proc"):
            try:
                if p.isdigit() and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == me:
                    out.append(int(p))
            except OSError:
                pass
        return out

    def check(a):
        """A new specialization (A) compiled and run against float64."""
        rng = np.random.default_rng(abs(a))
        x = rng.standard_normal(1000).astype(np.float32)
        x[:3] = [np.inf, -np.inf, np.nan]
        y = np.full_like(x, 7.0)
        axpb[(8,)](x, y, x.size, A=a, BLOCK=128)
        xd = x.astype(np.float64)
        want = np.empty_like(xd)
        for p in range(8):
            s = slice(p * 128, min((p + 1) * 128, x.size))
            want[s] = xd[s] * a + np.exp(xd[s]) - xd[s].astype(np.float32).sum(dtype=np.float32)
        np.testing.assert_allclose(y, want.astype(np.float32), rtol=2e-6, atol=1e-4, equal_nan=True)
''')


def run(tmp_path, body, fork=True, extra_env=None, expect_ok=True, name="k"):
    """Runs KERNEL + body in a new process; returns (result, build log lines)."""
    script = tmp_path / f"{name}.py"
    script.write_text(KERNEL + textwrap.dedent(body))
    log = tmp_path / f"{name}.log"
    if log.exists():
        log.unlink()
    env = dict(os.environ, TRITON_METAL_DEVICE="cpu", TRITON_METAL_OPT="fast",
               TRITON_METAL_CACHE_DIR=str(tmp_path / f"cache-{name}"), TRITON_METAL_BUILD_LOG=str(log),
               TRITON_METAL_CXX_FORK="1" if fork else "0", PYTHONPATH=os.path.join(ROOT, "python"),
               TRITON_METAL_CPU_SEED="")  # a new cache as new: no seed (test_pch_code.py has the seed's test)
    env.pop("TRITON_METAL_CXX", None)
    env.update(extra_env or {})
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    if expect_ok:
        assert r.returncode == 0, r.stdout + r.stderr
    lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return r, lines


def builds(lines, what="build"):
    return [(how, int(code)) for kind, _, _, code, how in lines if kind == what]


def elf_sections(path, names=(".text", ".rodata", ".data")):
    """The bytes of an ELF64 file's sections whose names start with one of names."""
    b = open(path, "rb").read()
    assert b[:4] == b"\x7fELF" and b[4] == 2
    shoff, = struct.unpack_from("<Q", b, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3A)
    heads = [struct.unpack_from("<IIQQQQ", b, shoff + i * shentsize) for i in range(shnum)]
    stroff = heads[shstrndx][4]
    out = {}
    for name_off, _, _, _, off, size in heads:
        name = b[stroff + name_off:b.index(b"\0", stroff + name_off)].decode()
        if name.startswith(names):
            out[name] = b[off:off + size]
    return out


def objects(tmp_path, name):
    return sorted(p for p in (tmp_path / f"cache-{name}" / "cpu").glob("*.so") if len(p.stem) == 64)


def test_server_builds_the_same_code(tmp_path):
    body = "check(3)\ncheck(-5)\n"
    _, served = run(tmp_path, body, fork=True, name="served")
    _, plain = run(tmp_path, body, fork=False, name="plain")
    assert builds(served) == [("server", 0), ("server", 0)]
    assert builds(plain) == [("process", 0), ("process", 0)]
    assert builds(served, "link") == [("server", 0), ("server", 0)]  # ld has a server of its own
    assert builds(plain, "link") == [("process", 0), ("process", 0)]
    assert [k for k, *_ in served if k == "pch"] == ["pch"]  # the PCH is served too
    a, b = objects(tmp_path, "served"), objects(tmp_path, "plain")
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 2  # the same cache keys
    for x, y in zip(a, b):
        sx, sy = elf_sections(x), elf_sections(y)
        assert ".text" in sx and sx == sy, x.name
    assert list((tmp_path / "cache-served" / "cpu").glob("cxxfork-*.preload"))
    assert not list((tmp_path / "cache-plain" / "cpu").glob("cxxfork-*.preload"))


BASH = shutil.which("bash")


def fake_cxx(tmp_path, body, shell="/bin/sh"):
    """A compiler that is a shell script: the server runs it as a plain one would."""
    wrap = tmp_path / "cxx"
    wrap.write_text(f"#!{shell}\n" + body + f'exec {CLANG} "$@"\n')
    wrap.chmod(0o755)
    return str(wrap)


@pytest.mark.parametrize("fork", [True, False])
def test_compiler_that_writes_no_object_is_an_error(tmp_path, fork):
    # a kernel compile that exits 0 and writes nothing: ld would link the empty
    # object as an empty script, and the load would blame the kernel's ABI
    cxx = fake_cxx(tmp_path, 'case "$*" in *" -c -x c++ "*) exit 0;; esac\n')
    r, lines = run(tmp_path, "check(2)\n", fork=fork, extra_env={"TRITON_METAL_CXX": cxx}, expect_ok=False)
    assert r.returncode != 0
    assert "C++ compile of kernel 'axpb' wrote no object" in r.stderr and f"{cxx} exited 0" in r.stderr, r.stderr
    assert builds(lines) == [("server" if fork else "process", 0)]
    assert builds(lines, "link") == []


@pytest.mark.parametrize("fork", [True, False])
def test_compile_errors_come_through(tmp_path, fork):
    # kernel compiles (-c on a .cc) fail with the compiler's words and status
    cxx = fake_cxx(tmp_path, 'case "$*" in *" -c -x c++ "*) echo "error: no room for $$ here" >&2; exit 3;; esac\n')
    r, lines = run(tmp_path, "check(2)\n", fork=fork, extra_env={"TRITON_METAL_CXX": cxx}, expect_ok=False)
    assert r.returncode != 0
    assert "error: no room for" in r.stderr and "exit 3" in r.stderr, r.stderr
    assert builds(lines) == [("server" if fork else "process", 3)]


def test_background_build_keeps_its_lower_priority(tmp_path):
    """Tiered mode builds -O2 code on a thread at nice 10; its compile must run
    at that priority through the server as it does as a child process."""
    prio = tmp_path / "prio"
    cxx = fake_cxx(tmp_path, 'case "$*" in *" -c -x c++ "*) '
                   f'echo "$1 $(cut -d" " -f19 /proc/self/stat)" >> {prio};; esac\n')
    body = "for i in range(40):\n    check(4)\n"
    run(tmp_path, body, extra_env={"TRITON_METAL_CXX": cxx, "TRITON_METAL_OPT": "tiered:1"})
    seen = dict(line.split() for line in prio.read_text().splitlines())
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert seen == {"-O0": str(base), "-O2": str(max(base, 10))}, seen


@pytest.mark.parametrize("shell", ["/bin/sh", "bash"])
@pytest.mark.parametrize("caller", ["", "1"])
def test_what_a_compile_sees_of_the_environment(tmp_path, monkeypatch, caller, shell):
    """The servers start with LD_BIND_NOW=1 and our library preloaded (their
    environment at start); a served compile, and what it runs, get
    LD_PRELOAD and LD_BIND_NOW back as the runtime's process had them. bash
    defines getenv, setenv and unsetenv of its own, which come before libc's
    in a bash server: the environment is put back without them."""
    if shell == "bash":
        if BASH is None:
            pytest.skip("no bash on PATH")
        shell = BASH
    seen = tmp_path / "seen"
    cxx = fake_cxx(tmp_path, f'case "$*" in *" -c -x c++ "*) '
                             f'echo "preload=${{LD_PRELOAD-unset}} bind=${{LD_BIND_NOW-unset}} '
                             f'fd=${{TM_CXX_FORK_FD-unset}}" >> {seen};; esac\n', shell=shell)
    body = '''
        check(1)
        for p in children():
            env = open(f"/proc/{p}/environ", "rb").read().split(b"\\0")
            if b"TM_CXX_FORK_FD=3" in env:
                assert b"LD_BIND_NOW=1" in env, env
                assert any(e.startswith(b"LD_PRELOAD=") and e.endswith(b".preload") for e in env), env
                print("server", p)
        check(2)
    '''
    extra = {"TRITON_METAL_CXX": cxx}
    env_caller = {"LD_BIND_NOW": caller} if caller else {}
    monkeypatch.delenv("LD_BIND_NOW", raising=False)
    r, lines = run(tmp_path, body, extra_env={**extra, **env_caller})
    assert r.stdout.count("server") == 2, r.stdout  # the compiler's and ld's
    assert builds(lines) == [("server", 0)] * 2 and builds(lines, "link") == [("server", 0)] * 2
    want = f"preload=unset bind={caller or 'unset'} fd=unset"
    assert seen.read_text().splitlines() == [want] * 2


def server_pids():
    """This test's grandchildren that are compile servers (their environment at start)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                env = open(f"/proc/{d}/environ", "rb").read()
            except OSError:
                continue
            if b"TM_CXX_FORK_FD=" in env:
                out.append(int(d))
    return out


@pytest.mark.parametrize("which", ["clang", "ld"])
def test_server_killed_compiles_go_on(tmp_path, which):
    """The compiler's server or ld's killed: its work goes on as plain processes."""
    body = f'''
        check(1)
        import signal
        servers = {{os.path.basename(os.readlink(f"/proc/{{p}}/exe")): p for p in children()
                   if b"TM_CXX_FORK_FD=" in open(f"/proc/{{p}}/environ", "rb").read()}}
        assert len(servers) == 2, servers
        [victim] = [p for name, p in servers.items() if ("clang" in name) == ("{which}" == "clang")]
        os.kill(victim, signal.SIGKILL)
        check(2)
        check(6)
    '''
    _, lines = run(tmp_path, body)
    killed, other = ("build", "link") if which == "clang" else ("link", "build")
    assert builds(lines, killed) == [("server", 0), ("process", 0), ("process", 0)]
    assert builds(lines, other) == [("server", 0)] * 3


def test_forked_process_has_its_own_server(tmp_path):
    body = '''
        check(1)
        pid = os.fork()
        if pid == 0:
            try:
                check(2)
            except BaseException as e:
                print("child:", e, file=sys.stderr)
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        check(3)  # the parent's server still serves
    '''
    _, lines = run(tmp_path, body)
    assert builds(lines) == [("server", 0)] * 3
    assert builds(lines, "link") == [("server", 0)] * 3


def test_server_ends_with_the_process(tmp_path):
    before = set(server_pids())
    run(tmp_path, "check(5)\n")
    deadline = time.time() + 10
    while set(server_pids()) - before and time.time() < deadline:
        time.sleep(0.05)
    assert not set(server_pids()) - before


def test_not_for_gcc(tmp_path):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no g++")
    _, lines = run(tmp_path, "check(2)\n", extra_env={"TRITON_METAL_CXX": gxx})
    assert builds(lines) == [("process", 0)]


def test_cold_cache_overlaps_its_first_steps(tmp_path):
    """With no toolchain record, `--version`, `-print-libgcc-file-name` and
    `-dM -E` (the predefined macros: can it build the shim?) run side by side
    (and the server starts beside them): the three overlap in the log; the
    first build overlaps the PCH's; the record and the PCH then spare the next
    process all of them."""
    _, cold = run(tmp_path, "check(2)\n", name="cold")
    probes = [(int(a), int(b)) for kind, a, b, code, how in cold if kind == "version"]
    assert len(probes) == 3
    assert max(a for a, _ in probes) < min(b for _, b in probes), probes  # both ran at once
    assert [how for kind, *_, how in cold if kind in ("pch", "build")] == ["server", "server"]
    # the first build does not wait for the PCH: it compiles without it while the PCH is built
    pch = [(int(a), int(b)) for kind, a, b, *_ in cold if kind == "pch"][0]
    build = [(int(a), int(b)) for kind, a, b, *_ in cold if kind == "build"][0]
    assert pch[0] < build[1] and build[0] < pch[1], (pch, build)
    script = tmp_path / "cold.py"
    env = dict(os.environ, TRITON_METAL_DEVICE="cpu", TRITON_METAL_OPT="fast",
               TRITON_METAL_CACHE_DIR=str(tmp_path / "cache-cold"), TRITON_METAL_BUILD_LOG=str(tmp_path / "again.log"),
               PYTHONPATH=os.path.join(ROOT, "python"))
    env.pop("TRITON_METAL_CXX", None)
    script.write_text(KERNEL + "check(2)\ncheck(9)\n")
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    again = [line.split() for line in (tmp_path / "again.log").read_text().splitlines()]
    assert [k for k, *_ in again] == ["build", "link"]  # check(9) alone is new; no question to the compiler
    assert again[0][4] == "server"


SLOW_EXIT = r'''
/* A compiler whose process ends slowly: it runs clang with its arguments and
 * returns clang's status, then, for a kernel compile, its destructor (run by
 * exit after main has returned) sleeps and, when told to fail, says so. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
static int compile, fail;
__attribute__((destructor)) static void slow(void) {
  if (!compile) return;
  const char *where = getenv("SLOW_EXIT_NICE"); /* the priority its exit runs at */
  FILE *f = where ? fopen(where, "a") : NULL;
  if (f) fprintf(f, "%%d\n", getpriority(PRIO_PROCESS, 0)), fclose(f);
  usleep(%(us)d);
  if (fail) fputs("error: said at exit\n", stderr);
}
int main(int argc, char **argv) {
  for (int i = 0; i + 2 < argc; i++)
    if (!strcmp(argv[i], "-c") && !strcmp(argv[i + 1], "-x") && !strcmp(argv[i + 2], "c++")) compile = 1;
  fail = compile && getenv("SLOW_EXIT_FAIL") != NULL;
  argv[0] = (char *)"%(clang)s";
  pid_t p;
  int st;
  if (posix_spawn(&p, argv[0], NULL, NULL, argv, environ) || waitpid(p, &st, 0) < 0) return 99;
  if (fail) return 3;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 98;
}
'''


@pytest.mark.parametrize("fail", [False, True])
def test_status_before_the_compilers_exit(tmp_path, fail):
    """A served compile's status comes as its main returns: a build that
    succeeded does not wait for the compiler's exit (its handlers,
    destructors and teardown), so this compiler's 2 s destructor is not in
    the build's time, and that exit runs at the lowest priority (nice 19:
    it takes a core only when the runtime leaves one); one that failed still
    gets every word the compiler wrote, the destructor's too, and its status,
    at the compile's priority."""
    cc = shutil.which("cc") or shutil.which("gcc") or CLANG
    src = tmp_path / "slow.c"
    src.write_text(SLOW_EXIT % {"us": 2_000_000, "clang": os.path.realpath(CLANG)})
    cxx = tmp_path / "clang++-slow"
    subprocess.run([cc, "-O1", "-o", str(cxx), str(src)], check=True)
    nice = tmp_path / "nice"
    env = {"TRITON_METAL_CXX": str(cxx), "SLOW_EXIT_NICE": str(nice)}
    if fail:
        env["SLOW_EXIT_FAIL"] = "1"
    r, lines = run(tmp_path, "check(2)\n", extra_env=env, expect_ok=not fail)
    deadline = time.time() + 10  # the destructor writes as it starts: soon after the status
    while not nice.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert nice.read_text().split() == ["19" if not fail else str(os.getpriority(os.PRIO_PROCESS, 0))]
    assert builds(lines) == [("server", 3 if fail else 0)]
    start, end = [(int(a), int(b)) for kind, a, b, *_ in lines if kind == "build"][0]
    if fail:
        assert "error: said at exit" in r.stderr and "exit 3" in r.stderr, r.stderr
        assert end - start >= 2e9  # the failed compile's words are all read: its exit is waited for
    else:
        assert end - start < 1.5e9, (end - start) / 1e9


ABRUPT = r'''
/* A compiler whose kernel compiles end without exit's handlers: _exit(5),
 * or killed by a signal. Everything else (the version probes, the
 * precompiled shims) is clang's. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
  for (int i = 0; i + 2 < argc; i++)
    if (!strcmp(argv[i], "-c") && !strcmp(argv[i + 1], "-x") && !strcmp(argv[i + 2], "c++")) {
      fputs("error: abrupt end\n", stderr);
      fflush(stderr);
      if (%(kill)d) kill(getpid(), SIGKILL);
      _exit(5);
    }
  argv[0] = (char *)"%(clang)s";
  pid_t p;
  int st;
  if (posix_spawn(&p, argv[0], NULL, NULL, argv, environ) || waitpid(p, &st, 0) < 0) return 99;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 98;
}
'''


@pytest.mark.parametrize("how", ["_exit", "signal"])
def test_status_of_a_compile_that_ends_abruptly(tmp_path, how):
    """A compile that ends without exit's handlers (so without saying its own
    status) gets its status from its manager, which waits for it (cxx_fork.h:
    the second reply): _exit's code, or -1 for a signal. The build fails with
    the compiler's words and that status, served, instead of waiting forever
    or running the compiler again as a plain process. (Fails with the
    manager's reply left out: the build then falls back to a process.)"""
    cc = shutil.which("cc") or shutil.which("gcc") or CLANG
    src = tmp_path / "abrupt.c"
    src.write_text(ABRUPT % {"kill": int(how == "signal"), "clang": os.path.realpath(CLANG)})
    cxx = tmp_path / "clang++-abrupt"
    subprocess.run([cc, "-O1", "-o", str(cxx), str(src)], check=True)
    r, lines = run(tmp_path, "check(2)\n", extra_env={"TRITON_METAL_CXX": str(cxx)}, expect_ok=False)
    code = 5 if how == "_exit" else -1
    assert r.returncode != 0 and f"exit {code}" in r.stderr, r.stderr
    assert builds(lines) and all(b == ("server", code) for b in builds(lines)), lines
    if how == "_exit":
        assert "error: abrupt end" in r.stderr, r.stderr


@pytest.mark.parametrize("how", ["served", "plain", "g++"])
def test_compiles_where_the_process_ignores_sigchld(tmp_path, how):
    """A program that sets SIGCHLD to SIG_IGN has its children reaped by the
    kernel as they end, and waitpid finds none: every tool's exit status was
    lost (`--version` "failed", so no compiler could be used). The runtime
    runs tools through an intermediate that waits with SIGCHLD at its default."""
    if how == "g++" and shutil.which("g++") is None:
        pytest.skip("no g++")
    body = '''
        import signal
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        check(3)
        check(-5)
        assert signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN  # left as the program set it
    '''
    extra = {"TRITON_METAL_CXX": shutil.which("g++")} if how == "g++" else {}
    _, lines = run(tmp_path, body, fork=how == "served", extra_env=extra)
    assert [(k, c) for k, _, _, c, _ in lines if k == "version"] == [("version", "0")] * 3  # each said 0
    assert builds(lines) == [("server" if how == "served" else "process", 0)] * 2
