"""pytest plugin for running upstream Triton's language tests against triton-metal.

Loaded by tools/conformance/run.py as `pytest -p tm_conformance`; usable by hand too:

    PYTHONPATH=python:tools/conformance TRITON_METAL_DEVICE=cpu \
        python -m pytest -p tm_conformance --tm-internal-testing=DIR/_internal_testing.py \
        DIR/test_core.py -k test_bin_op

What it supplies, and nothing more (the upstream files run unchanged):
  * `import triton` resolves to triton_metal (install()), before the test module imports;
  * `triton._internal_testing` is upstream's helper module, loaded from the path given
    (it is upstream's file, so it is not in this repository);
  * a `device` fixture: the torch device our kernels' tensors live on ('cpu' for the
    emulator and metal-sim, 'mps' on Metal), and upstream's conftest fixture
    `fresh_triton_cache` (a new kernel cache for the test);
  * the skip list (skips.txt beside this file): each matching case is skipped with
    its one-line reason;
  * a per-test timeout (SIGALRM; a kernel stuck in C is caught by the runner's watchdog);
  * with --tm-results=FILE, one JSON line per test phase as it ends, so a runner can
    tell which test was running when a process died.
"""
import fnmatch
import importlib.util
import json
import os
import re
import signal
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SKIPS_FILE = os.path.join(HERE, "skips.txt")


def load_skips(path=SKIPS_FILE):
    """[(pattern, reason)] from skips.txt: `pattern  # reason` per line; a pattern is
    fnmatch'ed against the test's node id without the file part
    (`test_bin_op[float64-*]`)."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pat, sep, reason = line.partition(" # ")
            if not sep or not reason.strip():
                raise ValueError(f"{path}:{n}: a skip needs a reason: `pattern # reason`")
            out.append((pat.strip(), reason.strip()))
    return out


def _match(name, pat):
    """fnmatch with '[' and ']' literal (case names hold them: `test_x[cpu]`); `*` and `?` wild."""
    return fnmatch.fnmatchcase(name, pat.replace("[", "[[]").replace("]", "[]]").replace("[[[]]", "[[]"))


def skip_line(name, skips):
    """(pattern, reason) of the first skip line matching a case name, or None. A
    line whose pattern starts with `!` runs the cases it matches (an exception to
    a broader skip line below it)."""
    for pat, reason in skips:
        if pat.startswith("!"):
            if _match(name, pat[1:]):
                return None
            continue
        if _match(name, pat):
            return pat, reason
    return None


def skip_reason(name, skips):
    line = skip_line(name, skips)
    return None if line is None else _EXPECT.sub("", line[1]).strip()


_EXPECT = re.compile(r"\s*\[expect: (.*)\]\s*$")


def expect_of(reason):
    """The regex a skipped case is expected to fail with (the `[expect: ...]` part)."""
    m = _EXPECT.search(reason)
    return m.group(1) if m else None


def pytest_addoption(parser):
    g = parser.getgroup("tm_conformance")
    g.addoption("--tm-internal-testing", default=None,
                help="path of upstream's python/triton/_internal_testing.py "
                     "(default: beside the test file)")
    g.addoption("--tm-results", default=None, help="append one JSON line per test here")
    g.addoption("--tm-timeout", type=float, default=120.0, help="seconds per test (0: none)")
    g.addoption("--tm-no-skips", action="store_true",
                help="run the cases on the skip list too (to check its reasons)")


def _install(internal_testing):
    import triton_metal
    triton_metal.install()
    # Python processes the tests start (test_subprocess.py runs print_helper.py)
    # import triton too: the package's `triton` shim and triton_metal come first
    # on their path
    pkg = os.path.dirname(os.path.abspath(triton_metal.__file__))
    paths = [os.path.join(pkg, "_triton"), os.path.dirname(pkg)]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    import triton
    if "triton._internal_testing" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("triton._internal_testing", internal_testing)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["triton._internal_testing"] = mod
    spec.loader.exec_module(mod)
    triton._internal_testing = mod


def pytest_configure(config):
    config.addinivalue_line("markers", "interpreter: upstream's mark of tests its interpreter runs")
    it = config.getoption("--tm-internal-testing")
    if it is None:
        for arg in config.args:
            cand = os.path.join(os.path.dirname(os.path.abspath(arg.split("::")[0])),
                                "_internal_testing.py")
            if os.path.exists(cand):
                it = cand
                break
    if it is None or not os.path.exists(it):
        raise pytest.UsageError("tm_conformance: upstream's _internal_testing.py not found; "
                                "pass --tm-internal-testing=PATH")
    _install(it)
    global _config
    _config = config
    config._tm_results = None
    path = config.getoption("--tm-results")
    if path:
        config._tm_results = open(path, "a", buffering=1)


def pytest_unconfigure(config):
    if getattr(config, "_tm_results", None):
        config._tm_results.close()


def pytest_collection_modifyitems(config, items):
    if config.getoption("--tm-no-skips"):
        return
    skips = load_skips()
    for item in items:
        reason = skip_reason(item.name, skips)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"triton-metal: {reason}"))


@pytest.fixture
def fresh_triton_cache(tmp_path, monkeypatch):
    """Upstream's conftest fixture: a new, empty kernel cache for the test (ours
    is TRITON_METAL_CACHE_DIR; upstream's variable is set too)."""
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    yield str(tmp_path)


@pytest.fixture
def device():
    import triton
    return str(triton.runtime.driver.active.get_active_torch_device())


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout("triton-metal conformance: test exceeded its time limit")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = item.config.getoption("--tm-timeout")
    if limit > 0 and hasattr(signal, "SIGALRM"):
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    else:
        yield


_config = None


def pytest_runtest_logstart(nodeid, location):
    f = getattr(_config, "_tm_results", None) if _config else None
    if f:
        f.write(json.dumps({"id": nodeid, "phase": "start", "t": time.time()}) + "\n")


def _message(rep):
    lr = rep.longrepr
    if lr is None:
        return ""
    if isinstance(lr, tuple):  # skip: (path, line, reason)
        return str(lr[2])
    crash = getattr(getattr(lr, "reprcrash", None), "message", None)
    return crash if crash is not None else str(lr)[-2000:]


def pytest_runtest_logreport(report):
    f = getattr(_config, "_tm_results", None) if _config else None
    if not f:
        return
    if report.when == "call" or report.outcome != "passed" or (
            report.when == "setup" and report.skipped):
        f.write(json.dumps({"id": report.nodeid, "phase": report.when,
                            "outcome": report.outcome, "dur": round(report.duration, 3),
                            "msg": _message(report)[:4000]}) + "\n")
