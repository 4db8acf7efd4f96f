# _debug.py: the host half of tl.device_print and tl.device_assert.
#
# A kernel with such calls gets a hidden buffer; its threads append records
# [site, pid.x, pid.y, pid.z, element, (value lo, value hi)...] and the emitted
# MSL describes each site in a `// tm-debug-site` comment. After the launch the
# extension hands both here: prints go to stdout (one line per program and
# element, as upstream's device_print), a failed assert raises AssertionError.

import math
import re
import struct
import sys

_SITE = re.compile(r"^// tm-debug-site (\d+) (print|assert) (\d+) (\d+) (\d) (\S+) (\S+) (\d+) ?(.*)$", re.M)
_FLOAT = {"fp16", "bf16", "fp32"}
_BITS = {"i1": 1, "i8": 8, "u8": 8, "i16": 16, "u16": 16, "fp16": 16, "bf16": 16, "i32": 32,
         "u32": 32, "fp32": 32, "i64": 64, "u64": 64, "ptr": 64}


def unescape(text):
    """A comment line's text as the compiler wrote it (emit.c buf_one_line)."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), text)


def _sites(msl):
    out = {}
    for m in _SITE.finditer(msl or ""):
        text = unescape(m.group(9))
        types = [] if m.group(6) == "-" else m.group(6).split(",")
        shape = [] if m.group(7) == "-" else [int(d) for d in m.group(7).split("x")]
        out[int(m.group(1))] = (m.group(2), int(m.group(3)), int(m.group(4)), bool(int(m.group(5))), types,
                                shape, int(m.group(8)), text)
    return out


def _value(lo, hi, ty, hex_):
    """One value as upstream's printf formats it: %f for floats, %i / %u
    (%lli / %llu) for integers by signedness, %p for pointers, and with
    hex=True 0x and the type's bits in hex digits, zero-padded."""
    bits = lo | (hi << 32)
    if ty == "ptr":
        return hex(bits)
    if ty in _FLOAT:
        f32 = struct.unpack("<f", struct.pack("<I", lo))[0]
        if hex_:
            if ty == "fp32":
                b = lo
            elif ty == "bf16":
                b = lo >> 16
            else:
                b = struct.unpack("<H", struct.pack("<e", f32))[0]
            return f"0x{b:0{_BITS[ty] // 4}x}"
        return f"{f32:f}"
    n = _BITS.get(ty, 64)
    if hex_:
        return f"0x{bits & ((1 << n) - 1):0{max(1, n // 4)}x}"
    if ty.startswith("u"):
        return str(bits)
    return str(bits - (1 << 64) if bits >> 63 else bits)


def _index(flat, shape):
    """'i1, i2, ...' of a row-major flat index, each right-aligned to the
    digits of its dimension (ceil(log10(dim)), as upstream's format)."""
    idx = []
    for d in reversed(shape):
        idx.append(flat % d)
        flat //= d
    parts = []
    for i, d in zip(reversed(idx), shape):
        w = math.ceil(math.log10(d)) if d > 0 else 0
        parts.append(f"{i:{w}d}" if w else str(i))
    return ", ".join(parts)


def report(msl, data):
    words = struct.unpack(f"<{len(data) // 4}I", data)
    cursor, capacity, failed = words[0], words[1], words[2]
    sites = _sites(msl)
    at, end = 4, min(cursor + 4, len(words))
    failures = []
    while at < end:
        site = sites.get(words[at])
        if site is None:
            break
        kind, line, col, hex_, types, shape, threads, text = site
        pid = words[at + 1:at + 4]
        idx = words[at + 4]
        if kind == "print":
            # upstream's format: pid (x, y, z) idx (i, j)<prefix>[(operand n) ]<value>, one
            # line per operand; a scalar (and a print of no values) is printed by every
            # thread of the program on a GPU, so its line comes once per thread
            head = f"pid ({pid[0]}, {pid[1]}, {pid[2]})"
            copies = 1 if shape else threads
            if not types:
                lines = [head + text]
            else:
                where = f"{head} idx ({_index(idx, shape)}){text}"
                lines = [where + (f"(operand {i}) " if len(types) > 1 else "")
                         + _value(words[at + 5 + 2 * i], words[at + 6 + 2 * i], t, hex_)
                         for i, t in enumerate(types)]
            for _ in range(copies):
                for ln in lines:
                    print(ln, file=sys.stdout)
            at += 5 + 2 * len(types)
        else:
            failures.append(f"line {line}:{col}: {text or 'assertion failed'} (pid ({pid[0]}, {pid[1]}, {pid[2]}), element {idx})")
            at += 5
    sys.stdout.flush()
    if cursor + 4 > capacity:
        print(f"device_print: output truncated ({cursor + 4 - capacity} words did not fit)", file=sys.stderr)
    if failed:
        shown = "; ".join(failures[:4]) + ("" if len(failures) <= 4 else f"; and {len(failures) - 4} more")
        from .errors import DeviceAssertionError
        raise DeviceAssertionError(f"device-side assert triggered: {shown or 'records did not fit'}")
