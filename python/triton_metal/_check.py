"""Compatibility check: can this machine run triton-metal kernels, and how.

    python -m triton_metal.check [--json] [--no-run]   (check.py runs main())
    triton_metal.check_compatibility()  -> dict (the JSON report)

The report is produced by the C library (tm_check_report, the same code as
`triton-metal check`), reached through ctypes on the extension module's shared
object, which links the whole library. This module adds what only Python knows:
the interpreter, MLX and torch versions and whether torch's MPS backend works.
Exit status of the command: 0 when kernels can run on some device, 1 when they
cannot, 2 for a bad TRITON_METAL_HW or a missing library.
"""
import ctypes
import json
import sys

TM_CHECK_JSON = 1
TM_CHECK_NO_RUN = 2


class _CheckPython(ctypes.Structure):
    _fields_ = [("python", ctypes.c_char_p), ("mlx", ctypes.c_char_p), ("torch", ctypes.c_char_p),
                ("torch_mps", ctypes.c_int), ("note", ctypes.c_char_p)]


class CheckError(RuntimeError):
    """The report could not be made (bad TRITON_METAL_HW, library not built)."""


def _library():
    try:
        from . import _C
    except ImportError as e:
        raise CheckError(f"the triton_metal extension is not built ({e}); run `make` or "
                         "`pip install .`") from e
    lib = ctypes.CDLL(_C.__file__)
    lib.tm_check_report.argtypes = [ctypes.c_uint, ctypes.POINTER(_CheckPython),
                                    ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int),
                                    ctypes.POINTER(ctypes.c_void_p)]
    lib.tm_check_report.restype = ctypes.c_int
    lib.tm_free.argtypes = [ctypes.c_void_p]
    lib.tm_free.restype = None
    return lib


def _version(dist):
    import importlib.metadata  # here, not at import: ~14 ms of every `import triton_metal`

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def python_facts():
    """Interpreter, MLX and torch versions; MPS availability (imports torch only on macOS)."""
    import platform

    facts = {"python": platform.python_version(), "mlx": _version("mlx"), "torch": _version("torch"),
             "torch_mps": False, "note": None}
    if facts["torch"] and sys.platform == "darwin":
        try:
            import torch
            facts["torch_mps"] = bool(torch.backends.mps.is_available())
        except Exception as e:  # a broken install is reported, not raised
            facts["note"] = f"import torch failed: {e}"
    return facts


def _report(flags, facts):
    lib = _library()
    enc = {k: (v.encode() if isinstance(v, str) else None) for k, v in facts.items() if k != "torch_mps"}
    py = _CheckPython(enc["python"], enc["mlx"], enc["torch"], int(facts["torch_mps"]), enc["note"])
    out, err, ok = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_int()
    st = lib.tm_check_report(flags, ctypes.byref(py), ctypes.byref(out), ctypes.byref(ok), ctypes.byref(err))
    try:
        if st != 0:
            msg = ctypes.string_at(err.value).decode() if err.value else "out of memory"
            raise CheckError(msg)
        return ctypes.string_at(out.value).decode(), bool(ok.value)
    finally:
        lib.tm_free(out)
        lib.tm_free(err)


def check_compatibility(run=True):
    """The compatibility report as a dict (schema: docs/compatibility.md).

    report["verdict"]["ok"] is True when kernels can run on some device of this
    machine; report["verdict"]["device"] names it. run=False skips the probe
    kernel that each device that opens is given.
    """
    text, _ = _report(TM_CHECK_JSON | (0 if run else TM_CHECK_NO_RUN), python_facts())
    return json.loads(text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    flags = 0
    for a in argv:
        if a == "--json":
            flags |= TM_CHECK_JSON
        elif a == "--no-run":
            flags |= TM_CHECK_NO_RUN
        else:
            print("usage: python -m triton_metal.check [--json] [--no-run]", file=sys.stderr)
            return 2
    try:
        text, ok = _report(flags, python_facts())
    except CheckError as e:
        print(f"triton_metal.check: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0 if ok else 1

