"""Prints (JSON) the MSL of every kernel the examples compile, for the target
of this process (TRITON_METAL_HW), without running any: test_presets.py runs
it once per target. Launches are replaced by no-ops and no module is built, so
the examples' own checks fail (their results are ignored); only what the
compiler emits for their arguments matters here. A kernel the target refuses
because it needs coherent device memory (MSL 3.2, src/emit.c plan_coherence:
layer norm's backward lock) is listed under "refused"; any other compile error
fails."""
import contextlib
import importlib
import json
import pathlib
import sys

import numpy as np

import importlib as _il

jit = _il.import_module("triton_metal.jit")
CompilationError = _il.import_module("triton_metal.errors").CompilationError

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
# the argument sets of tests/exec/test_examples.py (every dtype they cover)
RUNS = [("vector_add", (10_007,)), ("dropout", (100_003,)), ("softmax", (3, 37)), ("softmax", (130, 1000)),
        ("matmul", (45, 70, 33)), ("layer_norm", (5, 7, np.float32)), ("layer_norm", (33, 200, np.float16)),
        ("attention", ())]


def main():
    seen = {}
    compile_ = jit.JITFunction._compile

    def record(self, key, specs, o, *rest, **kw):
        compiled = compile_(self, key, specs, o, *rest, **kw)
        seen.setdefault(compiled.asm["msl"], f"{self.fn.__module__}.{self.fn.__name__}")
        return compiled

    jit.JITFunction._compile = record
    jit.CompiledKernel._init_handles = lambda self: None  # nothing is built...
    jit._launch = lambda *a, **k: None                    # ...or run
    sys.path.insert(0, str(EXAMPLES))
    refused = []  # (example, message): kernels the target refuses by design
    with np.errstate(all="ignore"), contextlib.redirect_stdout(sys.stderr):  # their reports
        for name, args in RUNS:
            try:
                importlib.import_module(name).main(*args)
            except CompilationError as e:
                if "MSL 3.2 (macOS 15)" not in str(e):  # only the coherence refusal is expected
                    raise
                refused.append([name, str(e)])
    json.dump({"kernels": [{"kernel": k, "msl": m} for m, k in seen.items()], "refused": refused}, sys.stdout)


if __name__ == "__main__":
    main()
