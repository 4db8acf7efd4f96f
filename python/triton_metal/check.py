"""python -m triton_metal.check [--json] [--no-run]: the compatibility report.

The implementation is in _check.py (imported by the package for
triton_metal.check_compatibility, so that running this module with -m does not
find it half-imported).
"""
import sys

from ._check import CheckError, check_compatibility, main, python_facts  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
