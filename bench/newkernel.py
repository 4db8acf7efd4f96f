"""bench/newkernel.py: what bench/cold_compile.py and bench/first_launch.py share.

A new specialization is timed by giving a recorded kernel's MSL a unique
comment (so the emulator's caches, in memory and on disk, miss), and each
tree runs in child processes with an empty cache folder, their JSON lines
gathered per (tree, kernel).
"""
import json
import os
import subprocess
import sys
import tempfile
import time


def fresh_copy(C, k, tag):
    """A copy of kernel k whose MSL ends with a comment naming `tag` and the
    time: built anew by the emulator, as a new specialization would be."""
    return C.kernel_from_parts(k.msl + f"\n// {tag} {time.time_ns()}\n", k.name, k.source_file, k.args, k.builtins,
                               k.threads_per_threadgroup, k.threadgroup_mem_bytes, k.uses_barriers,
                               k.private_bytes, k.source_name)


def run_child(script, label, pythonpath, args, cwd, env_extra=None, prime=False):
    """Runs `script --child ARGS` with PYTHONPATH, the cpu device and an empty
    cache folder (prime: one that `script --prime` filled first, in a process
    of its own); its JSON lines (exits naming `label` if it fails)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPATH=pythonpath, TRITON_METAL_DEVICE="cpu", TRITON_METAL_CACHE_DIR=cache,
                   **(env_extra or {}))
        if prime:
            p = subprocess.run([sys.executable, script, "--prime"], env=env, capture_output=True, text=True, cwd=cwd)
            if p.returncode:
                sys.exit(f"{label}: priming failed\n{p.stdout}\n{p.stderr}")
        out = subprocess.run([sys.executable, script, "--child", *args], env=env, capture_output=True, text=True,
                             cwd=cwd)
    if out.returncode:
        sys.exit(f"{label}: child failed\n{out.stdout}\n{out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def gather(res, order, label, rows, keys):
    """Adds each row's lists under `keys` to res[(label, row name)], the names
    in order of first appearance."""
    for d in rows:
        if d["name"] not in order:
            order.append(d["name"])
        r = res.setdefault((label, d["name"]), {})
        for k in keys:
            r.setdefault(k, []).extend(d[k])
