"""tools/conformance's skip list: its format, the first matching line wins, `!`
lines run what a broader line below would skip, and every line says what the
case fails with (run.py --verify-skips checks that against upstream's file)."""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "conformance"))

import tm_conformance as tc  # noqa: E402


def test_first_match_wins_and_bang_lines_run(tmp_path):
    f = tmp_path / "skips.txt"
    f.write_text("# comment\n"
                 "!test_empty_kernel[float64] # runs: never read\n"
                 "test_x[*-i64] # narrow [expect: out-of-bounds]\n"
                 "test_x[* # broad [expect: KeyError: 'ttir']\n"
                 "*float64* # no double [expect: float64]\n")
    skips = tc.load_skips(str(f))
    assert tc.skip_line("test_empty_kernel[float64]", skips) is None
    assert tc.skip_reason("test_empty_kernel[int8]", skips) is None
    assert tc.skip_reason("test_bin_op[float64-int8-+]", skips) == "no double"
    assert tc.skip_reason("test_x[5-i64]", skips) == "narrow"
    assert tc.expect_of(tc.skip_line("test_x[5-i64]", skips)[1]) == "out-of-bounds"
    assert tc.skip_reason("test_x[5-i32]", skips) == "broad"


def test_every_line_of_the_skip_list_has_a_reason_and_an_expectation():
    skips = tc.load_skips()
    assert len(skips) > 30
    for pat, reason in skips:
        if pat.startswith("!"):
            continue
        assert tc.expect_of(reason), f"{pat}: no [expect: ...]"
        assert tc._EXPECT.sub("", reason).strip(), f"{pat}: no reason"
