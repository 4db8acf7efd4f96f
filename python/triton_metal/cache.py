# cache.py: the on-disk cache of compiled kernels (and the folder the autotuner
# keeps its results in).
#
#   root      TRITON_METAL_CACHE_DIR, else $XDG_CACHE_HOME/triton-metal, else
#             ~/.cache/triton-metal (the cpu device keeps its objects in root/cpu);
#             a relative one is made absolute when first used
#   entry     root/kernels/<key[:2]>/<key>.json: the MSL and the kernel
#             descriptor, enough for tm_module_load without compiling
#   blocks    root/blocks/<key[:2]>/<key>: how many lines a @jit function's
#             block has, by the text from its first line on (block_length)
#   key       sha256 of: the kernel's source, file and line, every global it uses
#             (other @jit functions' sources included), the specialization, the
#             options, the target and the compiler version (TM_VERSION and a hash
#             of the extension binary, which holds the compiler)
#
# Writes are atomic (a temporary file in the same folder, then os.replace), so
# processes compiling the same kernel at once each write a whole entry and
# readers never see half of one. An entry carries the sha256 of its body; one
# that does not parse, does not match its key or fails the checksum is deleted
# and rebuilt, and so is anything but a regular file in its place (entries are
# opened without blocking: a FIFO is never read). A cache that cannot be
# written is skipped, with one warning.

import hashlib
import json
import os
import stat
import sys
import warnings

FORMAT = 1
_compiler_version = None
_warned = False


_roots = {}  # a folder as the environment names it -> absolute, as first seen


def root():
    """The cache folder, absolute: a relative TRITON_METAL_CACHE_DIR (`.cache`)
    is resolved against the working folder the first time it is used, so a
    process that changes folders keeps one cache (as the runtime does)."""
    e = os.environ.get("TRITON_METAL_CACHE_DIR")
    if not e:
        x = os.environ.get("XDG_CACHE_HOME")
        e = os.path.join(x, "triton-metal") if x else os.path.join(os.path.expanduser("~"), ".cache", "triton-metal")
    r = _roots.get(e)
    if r is None:
        r = _roots[e] = os.path.abspath(e)
    return r


def disabled():
    """TRITON_METAL_DISABLE_CACHE=1 (or upstream's TRITON_ALWAYS_COMPILE=1) skips
    reading the disk cache; entries are still written."""
    return os.environ.get("TRITON_METAL_DISABLE_CACHE") == "1" or \
        os.environ.get("TRITON_ALWAYS_COMPILE") == "1"


def compiler_version(c_module):
    """TM_VERSION plus the sha256 of the extension binary (computed once)."""
    global _compiler_version
    if _compiler_version is None:
        h = hashlib.sha256()
        path = getattr(c_module, "__file__", None)
        if path and os.path.exists(path):
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        _compiler_version = f"{getattr(c_module, 'VERSION', '?')}-{h.hexdigest()[:32]}"
    return _compiler_version


def make_key(*parts):
    """sha256 hex of the parts' reprs (tuples of str/int/float/bool/None: exact)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def block_length(lines, i, find):
    """len(find(lines[i:])): the number of lines of the block that starts at
    lines[i], where find is inspect.getblock (a prefix of its argument).
    getblock tokenizes the block (~2-3 ms a function on the 2-core VM), and a
    warm run needs every launched kernel's text for its key, so the length is
    kept in root/blocks, keyed by all it depends on: the text from lines[i]
    to the end of the file, and the Python version (its tokenizer). An entry
    holds "<length> <check>", the check a hash of the key and the length: a
    cut or garbled one (a wrong length would cut a kernel short) is computed
    and written again."""
    text = "".join(lines[i:])
    key = make_key("block", sys.version_info[:2], text)
    path = os.path.join(root(), "blocks", key[:2], key)
    if not disabled():
        try:
            raw = read_regular(path, 128).decode("ascii").split()
            n = int(raw[0])
            if len(raw) == 2 and raw[1] == make_key("block length", key, n) and 0 < n <= len(lines) - i:
                return n
        except (OSError, ValueError, IndexError):
            pass
    n = len(find(lines[i:]))
    try:
        write_atomic(path, f"{n} {make_key('block length', key, n)}".encode())
    except OSError:
        pass
    return n


def _path(key):
    return os.path.join(root(), "kernels", key[:2], key + ".json")


def _digest(body):
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_regular(path, limit=64 << 20):
    """The bytes of path, opened without blocking and read only if it is a
    regular file of at most limit bytes; OSError otherwise (FileNotFoundError
    when absent), so a FIFO or a device node in place of a cache file can
    neither block nor feed the reader."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        if st.st_size > limit:
            raise OSError(f"{path} is larger than {limit} bytes")
        os.set_blocking(fd, True)
        chunks, left = [], st.st_size
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


def load(key, log=None):
    """The body stored under key, or None (absent, or corrupt or not a regular
    file: then deleted)."""
    path = _path(key)
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        if log:
            log(f"cache: unusable entry {path} ({e}); discarded, rebuilding")
        discard(key)
        return None
    try:
        entry = json.loads(raw)
        body = entry["body"]
        if entry["format"] != FORMAT or entry["key"] != key or entry["sha256"] != _digest(body):
            raise ValueError("checksum or key mismatch")
        return body
    except (ValueError, KeyError, TypeError) as e:
        if log:
            log(f"cache: corrupt entry {path} ({type(e).__name__}: {e}); discarded, rebuilding")
        discard(key)
        return None


def discard(key):
    try:
        os.unlink(_path(key))
    except OSError:
        pass


def write_atomic(path, data):
    """Writes bytes to path through a temporary file in the same folder. Not
    synced to disk (a sync cost ~0.6 ms a kernel on the 2-core VM, more on a
    busy disk): a crash may leave the file empty or cut short, which its
    readers take for absent (load's checksum, the autotuner's JSON) and write
    again."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    import tempfile  # here: a run that finds everything in the cache writes nothing (~4 ms of import)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def store(key, body):
    """Stores body under key; a failure to write is a warning, not an error."""
    global _warned
    data = json.dumps({"format": FORMAT, "key": key, "sha256": _digest(body), "body": body},
                      sort_keys=True).encode()
    try:
        write_atomic(_path(key), data)
    except OSError as e:
        if not _warned:
            _warned = True
            warnings.warn(f"triton_metal: cannot write the kernel cache under {root()}: {e}; "
                          "set TRITON_METAL_CACHE_DIR to a writable folder", RuntimeWarning,
                          stacklevel=3)


def kernel_body(kernel, meta):
    """The JSON body of a _C.Kernel (what kernel_from_parts takes) plus metadata."""
    return {"msl": kernel.msl, "name": kernel.name, "source_file": kernel.source_file,
            "source_name": kernel.source_name, "args": [list(a) for a in kernel.args], "builtins": list(kernel.builtins),
            "threads_per_threadgroup": kernel.threads_per_threadgroup,
            "threadgroup_mem_bytes": kernel.threadgroup_mem_bytes,
            "uses_barriers": kernel.uses_barriers, "private_bytes": kernel.private_bytes,
            "meta": meta}


def kernel_from_body(c_module, body):
    """A _C.Kernel from a stored body; raises TypeError/ValueError/KeyError if malformed."""
    return c_module.kernel_from_parts(
        body["msl"], body["name"], body["source_file"],
        tuple(tuple(a) for a in body["args"]), tuple(body["builtins"]),
        body["threads_per_threadgroup"], body["threadgroup_mem_bytes"],
        int(body["uses_barriers"]), int(body.get("private_bytes", 0)), body.get("source_name"))


def debug_log(msg):
    sys.stderr.write(f"[triton_metal] {msg}\n")
    sys.stderr.flush()


def default_cache_dir():
    """The kernel cache's folder (TRITON_METAL_CACHE_DIR, else under XDG_CACHE_HOME
    or ~/.cache): upstream's triton.runtime.cache.default_cache_dir."""
    return root()


def triton_key():
    """A string that changes whenever the compiler does (upstream's triton_key)."""
    try:
        from . import _C as c
    except ImportError:
        c = None
    return f"triton-metal-{compiler_version(c)}"
