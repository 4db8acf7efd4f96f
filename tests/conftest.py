# conftest.py (all test folders): read_only_mount, small_disk_mount and
# noexec_mount, for tests of a cache folder that cannot be written, whose disk
# is full, or from which no program may be mapped, which must hold for root
# too (root writes through permission bits, so chmod alone tests nothing there).
import shutil
import subprocess

import pytest


def _namespaced(what, setup, args, probe):
    """An argv prefix that runs a command after the shell text setup (its $0:
    args[0], then args[1:]) in a new user and mount namespace (`unshare -rm`);
    skips the test where unshare is missing or probe (a shell text run there,
    $0 the folder) fails."""
    unshare = shutil.which("unshare")
    if not unshare:
        pytest.skip(f"no unshare(1) for {what}")
    wrap = [unshare, "-rm", "sh", "-c", setup, *args]
    r = subprocess.run([*wrap, "sh", "-c", probe, args[0]], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"no {what} in a user namespace here: {r.stderr.strip()[:200]}")
    return wrap


_WRAP = 'mount --bind -o ro "$0" "$0" && exec "$@"'


@pytest.fixture
def read_only_mount():
    """wrap(folder) -> an argv prefix that runs a command with `folder` mounted
    read-only for everyone, root included (a read-only bind mount)."""
    return lambda folder: _namespaced("read-only mount", _WRAP, [str(folder)],
                                      'touch "$0/.tm-probe" 2>/dev/null && exit 1 || exit 0')


_SMALL = 'mount -t tmpfs -o size="$1" tmpfs "$0" && shift && exec "$@"'


@pytest.fixture
def small_disk_mount():
    """wrap(folder, size) -> an argv prefix that runs a command with `folder`
    on a fresh tmpfs of `size` (e.g. "64k"): a disk that fills, for everyone."""
    return lambda folder, size: _namespaced("small tmpfs", _SMALL, [str(folder), size],
                                            '[ "$(stat -f -c %T "$0")" = tmpfs ]')


_NOEXEC = 'mount -t tmpfs -o noexec tmpfs "$0" && exec "$@"'


@pytest.fixture
def noexec_mount():
    """wrap(folder) -> an argv prefix that runs a command with `folder` on a
    fresh tmpfs mounted noexec (no program or shared object may be mapped
    from it, as hardened containers mount /tmp)."""
    return lambda folder: _namespaced("noexec tmpfs", _NOEXEC, [str(folder)],
                                      'grep -q " $0 tmpfs [^ ]*noexec" /proc/self/mounts')
