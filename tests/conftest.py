# conftest.py (all test folders): read_only_mount and small_disk_mount, for
# tests of a cache folder that cannot be written or whose disk is full, which
# must hold for root too (root writes through permission bits, so chmod alone
# tests nothing there).
import shutil
import subprocess

import pytest

_WRAP = 'mount --bind -o ro "$0" "$0" && exec "$@"'


@pytest.fixture
def read_only_mount():
    """wrap(folder) -> an argv prefix that runs a command with `folder` mounted
    read-only for everyone, root included (a read-only bind mount in a new user
    and mount namespace: `unshare -rm`). Skips the test where this machine
    allows no such namespace."""
    unshare = shutil.which("unshare")

    def wrap(folder):
        if not unshare:
            pytest.skip("no unshare(1) for a read-only mount")
        probe = subprocess.run([unshare, "-rm", "sh", "-c", _WRAP, str(folder), "sh", "-c",
                                'touch "$0/.tm-probe" 2>/dev/null && exit 1 || exit 0', str(folder)],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            pytest.skip(f"no read-only mount in a user namespace here: {probe.stderr.strip()[:200]}")
        return [unshare, "-rm", "sh", "-c", _WRAP, str(folder)]
    return wrap


_SMALL = 'mount -t tmpfs -o size="$1" tmpfs "$0" && shift && exec "$@"'


@pytest.fixture
def small_disk_mount():
    """wrap(folder, size) -> an argv prefix that runs a command with `folder`
    on a fresh tmpfs of `size` (e.g. "64k"): a disk that fills, for everyone,
    in a new user and mount namespace (`unshare -rm`). Skips the test where this
    machine allows no such namespace."""
    unshare = shutil.which("unshare")

    def wrap(folder, size):
        if not unshare:
            pytest.skip("no unshare(1) for a small disk")
        probe = subprocess.run([unshare, "-rm", "sh", "-c", _SMALL, str(folder), size, "sh", "-c",
                                '[ "$(stat -f -c %T "$0")" = tmpfs ]',
                                str(folder)], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            pytest.skip(f"no small tmpfs in a user namespace here: {probe.stderr.strip()[:200]}")
        return [unshare, "-rm", "sh", "-c", _SMALL, str(folder), size]
    return wrap


_NOEXEC = 'mount -t tmpfs -o noexec tmpfs "$0" && exec "$@"'


@pytest.fixture
def noexec_mount():
    """wrap(folder) -> an argv prefix that runs a command with `folder` on a
    fresh tmpfs mounted noexec (no program or shared object may be mapped
    from it, as hardened containers mount /tmp), in a new user and mount
    namespace (`unshare -rm`). Skips the test where this machine allows no
    such namespace."""
    unshare = shutil.which("unshare")

    def wrap(folder):
        if not unshare:
            pytest.skip("no unshare(1) for a noexec mount")
        probe = subprocess.run([unshare, "-rm", "sh", "-c", _NOEXEC, str(folder), "sh", "-c",
                                'grep -q " $0 tmpfs [^ ]*noexec" /proc/self/mounts', str(folder)],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            pytest.skip(f"no noexec tmpfs in a user namespace here: {probe.stderr.strip()[:200]}")
        return [unshare, "-rm", "sh", "-c", _NOEXEC, str(folder)]
    return wrap
