"""The recorder's ``sprintf`` against Go's own ``fmt.Sprintf``: the same text for every case.

These tests need ``go`` (README: 1.26+); without it they fail, they are never skipped.
"""

from __future__ import annotations

import itertools
import math
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from event_recorder.formatting import sprintf
from tests.unit.event_recorder.go_sprintf import Case, go_sprintf
from tests.unit.event_recorder.test_formatting import TABLE

VERBS = "vdsqxXobeEfFgGtcUTOw%yé"
FLAGS = ["", "#", "+", "-", " ", "0", "+#", "-0", " 0", "# ", "+-#0 "]
SHAPES = ["", "5", "1", "12", ".0", ".2", ".7", "8.3", "*", ".*", "[1]", "[2]", "[3]*"]
VALUES: list[object] = [
    None,
    True,
    False,
    0,
    7,
    -42,
    255,
    65,
    0x1F600,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 + 5,
    -(2**70),
    0.0,
    -0.0,
    3.0,
    1e6,
    1e21,
    1e-7,
    123.456,
    -0.1,
    2.5e-310,
    1.7976931348623157e308,
    math.inf,
    -math.inf,
    math.nan,
    1 + 2j,
    "",
    "hi",
    "héllo 副本",
    'tab\t"q"\n\x00\x7f\u200b\U0001f600`',
    b"",
    b"hi",
    b"\xff\xe4\xb8",
    [],
    ["a", 1, None, [2.5, b"x"]],
    {},
    {"k": "v", "a": [1]},
    {3: "c", 1: None},
    {2.5: 1, -1.0: 2},
    {True: 1, False: 0},
]


def _with_go(cases: list[Case]) -> None:
    """Every case formats to what Go prints; all differences are reported at once."""
    expected = go_sprintf(cases)
    differ = [
        (fmt, args, want, got)
        for (fmt, args), want in zip(cases, expected, strict=True)
        if (got := sprintf(fmt, args)) != want
    ]
    assert not differ, "\n".join(f"{f!r} {a!r}: Go {w!r}, ours {g!r}" for f, a, w, g in differ[:20])


def _comparable(fmt: str, args: tuple[object, ...]) -> bool:
    """Go prints addresses for %p of slices, maps and *big.Int, and for %w of a slice or map
    holding a *big.Int; Python has none to match."""

    def big(value: object) -> bool:
        return isinstance(value, int) and not -(2**63) <= value < 2**63

    def big_inside(value: object) -> bool:
        if isinstance(value, list | tuple):
            return any(big(v) or big_inside(v) for v in value)
        if isinstance(value, dict):
            return big_inside(list(value.values())) or big_inside(list(value))
        return False

    if "p" in fmt and any(isinstance(a, list | tuple | dict | bytes) or big(a) for a in args):
        return False
    return not ("w" in fmt and any(big_inside(a) for a in args))


def test_the_checked_in_table_is_what_go_prints() -> None:
    cases = [(fmt, args) for fmt, args, _ in TABLE]
    assert go_sprintf(cases) == [expected for _, _, expected in TABLE]


def test_every_verb_flag_and_shape_on_every_kind_of_value() -> None:
    cases: list[Case] = []
    for verb, flags, shape in itertools.product(VERBS, FLAGS, SHAPES):
        fmt = f"%{flags}{shape}{verb}|"
        for value in VALUES:
            args: tuple[object, ...] = (3, value, 2) if "*" in shape else (value,)
            if "[" in shape:
                args = (value, -4, 6)
            if _comparable(fmt, args):
                cases.append((fmt, args))
    assert len(cases) > 130_000
    _with_go(cases)


# --- random formats and arguments ------------------------------------------------------------

# %q and %#U print a character raw if it is printable in the Unicode version at hand: Go 1.26
# has 15.0, Python 3.11 14.0, 3.13 15.1. Characters assigned in only one of them are left out.
_UNICODE_15_1 = ((0x2EBF0, 0x2EE5D), (0x2FFC, 0x2FFF), (0x31EF, 0x31EF))


def _same_in_every_unicode(code: int) -> bool:
    if not 0 <= code <= 0x10FFFF:
        return True
    new = any(low <= code <= high for low, high in _UNICODE_15_1)
    return not new and unicodedata.category(chr(code)) != "Cn"


_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_TEXT = st.text(
    st.characters(exclude_categories=("Cs",)).filter(lambda c: _same_in_every_unicode(ord(c))),
    max_size=8,
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers().filter(_same_in_every_unicode),
    _INT64.filter(_same_in_every_unicode),
    st.integers(min_value=-300, max_value=0x10FFFF + 2).filter(_same_in_every_unicode),
    st.floats(),
    st.complex_numbers(),
    _TEXT,
    st.binary(max_size=6),
)


def _containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(_TEXT, children, max_size=3),
        st.dictionaries(_INT64, children, max_size=3),
        st.dictionaries(st.floats(allow_nan=False), children, max_size=3),
        st.dictionaries(st.booleans(), children, max_size=2),
    )


_ARGS = st.recursive(_SCALARS, _containers, max_leaves=8)
_NUMBER = st.one_of(st.just(""), st.integers(0, 25).map(str), st.just("*"))
_INDEX = st.one_of(st.just(""), st.integers(0, 5).map(lambda n: f"[{n}]"), st.just("[x]"))
_DIRECTIVE = st.builds(
    lambda flags, index, width, dot, prec, verb: (
        f"%{''.join(flags)}{index}{width}{'.' if dot else ''}{prec if dot else ''}{verb}"
    ),
    st.lists(st.sampled_from("#0+- "), max_size=3),
    _INDEX,
    _NUMBER,
    st.booleans(),
    _NUMBER,
    st.sampled_from("vdsqxXobeEfFgGtcUTOwpy%é!"),
)
_LITERAL = st.text(st.sampled_from("ab %.[]*1é"), max_size=4)
_FORMAT = st.lists(st.one_of(_DIRECTIVE, _LITERAL), min_size=1, max_size=5).map("".join)
_CASE = st.tuples(_FORMAT, st.lists(_ARGS, max_size=5).map(tuple))


@settings(max_examples=150, deadline=None)
@given(st.lists(_CASE, min_size=1, max_size=40))
def test_random_formats_and_arguments_print_as_in_go(cases: list[Case]) -> None:
    _with_go([case for case in cases if _comparable(*case)])
