# _debug.py: the host half of tl.device_print and tl.device_assert.
#
# A kernel with such calls gets a hidden buffer; its threads append records
# [site, pid.x, pid.y, pid.z, element, (value lo, value hi)...] and the emitted
# MSL describes each site in a `// tm-debug-site` comment. After the launch the
# extension hands both here: prints go to stdout (one line per program and
# element, as upstream's device_print), a failed assert raises AssertionError.

import re
import struct
import sys

_SITE = re.compile(r"^// tm-debug-site (\d+) (print|assert) (\d+) (\d+) (\d) (\S+) ?(.*)$", re.M)
_FLOAT = {"fp16", "bf16", "fp32"}


def _sites(msl):
    out = {}
    for m in _SITE.finditer(msl or ""):
        text = m.group(7).replace("\\n", "\n").replace("\\\\", "\\")
        types = [] if m.group(6) == "-" else m.group(6).split(",")
        out[int(m.group(1))] = (m.group(2), int(m.group(3)), int(m.group(4)), bool(int(m.group(5))), types, text)
    return out


def _value(lo, hi, ty, hex_):
    bits = lo | (hi << 32)
    if ty in _FLOAT:
        v = struct.unpack("<f", struct.pack("<I", lo))[0]
        return v.hex() if hex_ else repr(v)
    if ty.startswith("u") or ty == "i1":
        v = bits
    else:
        v = bits - (1 << 64) if bits >> 63 else bits
    return hex(v) if hex_ else str(v)


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
        kind, line, col, hex_, types, text = site
        pid = words[at + 1:at + 4]
        idx = words[at + 4]
        if kind == "print":
            vals = [_value(words[at + 5 + 2 * i], words[at + 6 + 2 * i], t, hex_) for i, t in enumerate(types)]
            print(f"pid ({pid[0]}, {pid[1]}, {pid[2]}) idx ({idx}) {text}{' '.join(vals)}", file=sys.stdout)
            at += 5 + 2 * len(types)
        else:
            failures.append(f"line {line}:{col}: {text or 'assertion failed'} (pid ({pid[0]}, {pid[1]}, {pid[2]}), element {idx})")
            at += 5
    sys.stdout.flush()
    if cursor + 4 > capacity:
        print(f"device_print: output truncated ({cursor + 4 - capacity} words did not fit)", file=sys.stderr)
    if failed:
        shown = "; ".join(failures[:4]) + ("" if len(failures) <= 4 else f"; and {len(failures) - 4} more")
        raise AssertionError(f"device_assert failed: {shown or 'records did not fit'}")
