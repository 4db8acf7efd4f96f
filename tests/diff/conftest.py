# The kernel cache of these tests goes to a fresh folder (unless one is given),
# as in tests/python/conftest.py.
import atexit
import os
import shutil
import tempfile

if not os.environ.get("TRITON_METAL_CACHE_DIR"):
    os.environ["TRITON_METAL_CACHE_DIR"] = tempfile.mkdtemp(prefix="tm-pytest-cache-")
    atexit.register(shutil.rmtree, os.environ["TRITON_METAL_CACHE_DIR"], True)
