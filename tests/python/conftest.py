# conftest.py: makes the in-tree package importable when it is not installed
# (`pytest tests/python` from the repository root works either way).
import os
import sys

try:
    import triton_metal  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
