# triton.backends.nvidia.compiler: only the tool lookup that helper code imports.
import os
import re
import shutil
import subprocess


def _path_to_binary(binary):
    """(path, version) of one of NVIDIA's tools (ptxas, cuobjdump, nvdisasm), as
    upstream looks them up: TRITON_<BINARY>_PATH, then PATH. triton-metal never
    runs them; this answers for code that asks whether they exist."""
    candidates = [os.environ.get(f"TRITON_{binary.upper()}_PATH", ""), shutil.which(binary) or ""]
    for path in candidates:
        if path and os.path.exists(path) and os.access(path, os.X_OK):
            out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
            m = re.search(r"release (\d+\.\d+)", out)
            if m:
                return path, m.group(1)
    raise RuntimeError(f"Cannot find {binary}")
