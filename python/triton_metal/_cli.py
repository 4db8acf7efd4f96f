# _cli.py: the `triton-metal` console script that `pip install` puts on PATH.
# It runs the C CLI (cli/main.c): the executable setup.py builds next to this
# package's extension, or, in a source checkout built with make, build/triton-metal.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CANDIDATES = [os.path.join(HERE, "triton-metal"),
              os.path.join(HERE, "..", "..", "build", "triton-metal")]


def executable():
    for path in CANDIDATES:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    return None


def main():
    exe = executable()
    if exe is None:
        sys.stderr.write("triton-metal: the CLI executable was not built (looked for "
                         + " and ".join(os.path.abspath(p) for p in CANDIDATES)
                         + "); reinstall with pip or run make\n")
        return 2
    os.execv(exe, [exe] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
