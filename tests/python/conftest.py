# conftest.py: makes the in-tree package importable when it is not installed
# (`pytest tests/python` from the repository root works either way), and keeps
# the kernel cache of the test run in a fresh folder (unless one is given).
import atexit
import os
import shutil
import sys
import tempfile

if not os.environ.get("TRITON_METAL_CACHE_DIR"):
    os.environ["TRITON_METAL_CACHE_DIR"] = tempfile.mkdtemp(prefix="tm-pytest-cache-")
    atexit.register(shutil.rmtree, os.environ["TRITON_METAL_CACHE_DIR"], True)

try:
    import triton_metal  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
