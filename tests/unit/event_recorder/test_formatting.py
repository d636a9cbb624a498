"""Go's ``fmt.Sprintf`` over Python values: a checked-in table of what Go prints, and the rules
for values Go has no counterpart for.

The table's expectations are Go's own output (``test_formatting_go.py`` checks them against
Go); these tests run without Go.
"""

from __future__ import annotations

import enum
import math

import pytest

from event_recorder.formatting import sprintf

TABLE: list[tuple[str, tuple[object, ...], str]] = [
    # the cases
    ("%d replicas", ("three",), "%!d(string=three) replicas"),
    ("%s", (7,), "%!s(int=7)"),
    ("%x", ("hi",), "6869"),
    ("%q", (65,), "'A'"),
    ("100%", (), "100%!(NOVERB)"),
    ("%v %v", (3.0, 1000000.0), "3 1e+06"),
    ("%v %v", (["a", "b"], {"k": "v"}), "[a b] map[k:v]"),
    ("%d of %d", (1,), "1 of %!d(MISSING)"),
    ("set to %d", (3, "x"), "set to 3%!(EXTRA string=x)"),
    ("%v", (None,), "<nil>"),
    ("%v %v", (True, False), "true false"),
    (
        "%5d|%-5s|%05.2f|%+d|%x|%X|%o|%b",
        (42, "ab", 3.14159, 5, 255, 255, 8, 5),
        "   42|ab   |03.14|+5|ff|FF|10|101",
    ),
    (
        "%e|%g|%t|%c|%U|%%",
        (1234.5678, 1.2345e-05, True, 20013, 128512),
        "1.234568e+03|1.2345e-05|true|中|U+1F600|%",
    ),
    (
        "%v %s %x %q %d",
        (b"hi", b"hi", b"hi", b"hi\xff", b"hi"),
        '[104 105] hi 6869 "hi\\xff" [104 105]',
    ),
    # what Go controllers write
    ("redis replicas set to %d", (3,), "redis replicas set to 3"),
    ("%s/%s", ("default", "my-op-redis"), "default/my-op-redis"),
    ("%v %v %v %v", (1, "a", None, True), "1 a <nil> true"),
    ("%q", ("副本",), '"副本"'),
    ("%t", (False,), "false"),
    ("%5.2f|%-4d|%04d", (3.14159, 7, 42), " 3.14|7   |0042"),
    ("%x %X %o %b %c", (255, 255, 8, 5, 20013), "ff FF 10 101 中"),
    (
        "%T %T %T %T %T %T %T %T",
        (1.5, 1, "s", None, [1], {"a": 1}, b"", 18446744073709551616),
        "float64 int string <nil> []interface {} map[string]interface {} []uint8 *big.Int",
    ),
    ("100%% done", (), "100% done"),
    ("no verbs", (), "no verbs"),
    # bad verbs, arguments and indexes
    ("%d", (True,), "%!d(bool=true)"),
    ("%f", ("x",), "%!f(string=x)"),
    ("%y", (1,), "%!y(int=1)"),
    ("%5d", ("x",), "%!d(string=    x)"),
    ("%d", (None,), "%!d(<nil>)"),
    ("%[2]d %[1]s", ("a", 2), "2 a"),
    ("%[0]d %[x]d %[9]d", (1,), "%!d(BADINDEX) %!d(BADINDEX) %!d(BADINDEX)"),
    ("%[2]d %d", (1, 2), "2 %!d(MISSING)"),
    ("%*d|%-*d|%.*f", (5, 3, -4, 7, 2, 3.14159), "    3|7   |3.14"),
    ("%*d", ("x", 1), "%!(BADWIDTH)1"),
    ("%.*d", (-1, 1), "%!(BADPREC)1"),
    ("%!", (), "%!!(MISSING)"),
    ("%", (), "%!(NOVERB)"),
    ("%-", (1,), "%!(NOVERB)%!(EXTRA int=1)"),
    ("%5.", (1,), "%!.(int=    1)"),
    ("%é", (1,), "%!é(int=1)"),
    ("%w %#w", (1, "a"), '%!w(int=1) %!w(string="a")'),
    ("%p %p", (1, "s"), "%!p(int=1) %!p(string=s)"),
    ("%d", (1, None, [1], b"x"), "1%!(EXTRA <nil>, []interface {}=[1], []uint8=[120])"),
    # composite values
    ("%#v", ([1, "a", None, []],), '[]interface {}{1, "a", interface {}(nil), []interface {}{}}'),
    (
        "%#v",
        ({"b": 1, "a": [b"x"]},),
        'map[string]interface {}{"a":[]interface {}{[]uint8{0x78}}, "b":1}',
    ),
    ("%#v %#v %#v", (b"ab", 1.0, "x"), '[]byte{0x61, 0x62} 1 "x"'),
    (
        "%v %d",
        ({3: "c", 1: "a"}, {2.5: 1, -1.0: 2}),
        "map[1:a 3:c] map[%!d(float64=-1):2 %!d(float64=2.5):1]",
    ),
    ("%x", ({True: 1, False: 0},), "map[%!x(bool=false):0 %!x(bool=true):1]"),
    (
        "%s %d",
        ([b"hi", None, 1.5], [1, "a", None, b"ab", [2]]),
        "[hi <nil> %!s(float64=1.5)] [1 %!d(string=a) <nil> [97 98] [2]]",
    ),
    ("%5v|%-3d", ([1, 22], (3, 4)), "[    1    22]|[3   4  ]"),
    ("%c %t", (b"hi", b"h"), "[h i] [%!t(uint8=104)]"),
    # floats
    ("%v %v %v %v %v", (math.nan, math.inf, -math.inf, -0.0, 1e21), "NaN +Inf -Inf -0 1e+21"),
    (
        "%.1f %.0f %.0f %.2f %.20f",
        (0.25, 0.5, 1.5, 0.005, 0.1),
        "0.2 0 2 0.01 0.10000000000000000555",
    ),
    (
        "%.3g %.10g %g %G %e %E",
        (100.0, 0.3333333333333333, 1e-05, 1e-07, 0.0, 123456.0),
        "100 0.3333333333 1e-05 1E-07 0.000000e+00 1.234560E+05",
    ),
    (
        "%10.3e|%-10.3g|%#g|%#.3x",
        (12345.678, 0.0001234, 1.0, 1.5),
        " 1.235e+04|0.000123  |1.00000|0x1.800p+00",
    ),
    ("%x|%X|%b", (3.25, -0.1, 2.0), "0x1.ap+01|-0X1.999999999999AP-04|4503599627370496p-51"),
    (
        "%6.2v|%-8v|%08v|%+08.3f|% 8.3f|%05f",
        (1.0, 2.5, -3.5, 2.0, 2.0, math.inf),
        "     1|2.5     |-00003.5|+002.000|   2.000| +Inf",
    ),
    (
        "%v %.2f %+v",
        (1 + 2j, complex(-0.0, -1.5), complex(0, math.nan)),
        "(1+2i) (-0.00-1.50i) (0+NaNi)",
    ),
    # integers, runes and big integers
    ("%+v % v %#x %#o %#b %#X %O", (3, 3, 255, 8, 5, 255, 8), "3  3 0xff 010 0b101 0XFF 0o10"),
    (
        "%.0d|%5.0d|%.3d|%08.3d|%-08d|%+05d",
        (0, 0, 7, 7, 7, 7),
        "|     |007|     007|7       |+0007",
    ),
    (
        "%#U %#.6U %U %q %+q %c",
        (128512, 65, -1, 55296, 20013, 1114112),
        "U+1F600 '😀' U+000041 'A' U+FFFFFFFFFFFFFFFF '�' '\\u4e2d' �",
    ),
    (
        "%d %v %x %#x",
        (
            1180591620717411303424,
            -1180591620717411303424,
            1180591620717411303424,
            36893488147419103232,
        ),
        "1180591620717411303424 -1180591620717411303424 400000000000000000 0x20000000000000000",
    ),
    (
        "%+d %08d|%c",
        (36893488147419103232, 36893488147419103232, 18446744073709551616),
        "+36893488147419103232 36893488147419103232|%!c(big.Int=18446744073709551616)",
    ),
    (
        "%w %+w",
        (55340232221128654853, -18446744073709551616),
        "%!w(*big.Int=&{false [5 3]}) %!w(*big.Int=&{neg:true abs:[0 1]})",
    ),
    ("%#w", (1180591620717411303424,), "%!w(*big.Int=&big.Int{neg:false, abs:big.nat{0x0, 0x40}})"),
    # strings and bytes
    (
        "%q %+q %#q %#q",
        ('a"b\n\x00é😀\u200b', "é", "a`b", "tab\there"),
        '"a\\"b\\n\\x00é😀\\u200b" "\\u00e9" "a`b" `tab\there`',
    ),
    (
        "%x % x % #X %#x %.2x %8x|",
        ("héllo", "héllo", "hé", "", "hello", "hi"),
        "68c3a96c6c6f 68 c3 a9 6c 6c 6f 0X68 0XC3 0XA9  6865     6869|",
    ),
    (
        "%5t %05s %-05d %05x %5c %05q",
        (True, "ab", 3, "hi", 65, "a"),
        ' true 000ab 3     06869     A 00"a"',
    ),
    ("%.2v %8.3v %.1q %-6s|", ("héllo", "héllo", "héllo", "副本"), 'hé      hél "h" 副本    |'),
    (
        "%s %s%s %5s|%.1s|%q",
        (b"\xe4\xb8", b"\xe4", b"\xb8\xad", b"\xff\xfe", b"\xff\xfe", b"\xed\xa0\x80"),
        '�� 中    ��|�|"\\xed\\xa0\\x80"',
    ),
    ("%s", ("lone \ud800 surrogate",), "lone � surrogate"),
]


@pytest.mark.parametrize(("fmt", "args", "expected"), TABLE)
def test_formats_as_go_does(fmt: str, args: tuple[object, ...], expected: str) -> None:
    assert sprintf(fmt, args) == expected


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Broken:
    def __str__(self) -> str:
        raise ValueError("no")


def test_other_objects_are_the_string_of_str() -> None:
    assert sprintf("%v %s %d %T", (Color.RED, ValueError("boom"), Color.RED, Color.RED)) == (
        "Color.RED boom %!d(string=Color.RED) string"
    )


def test_subclasses_are_their_base_type() -> None:
    assert sprintf("%d %v %T", (Level.HIGH, Level.HIGH, Level.HIGH)) == "3 3 int"


def test_a_failing_str_is_written_not_raised() -> None:
    assert sprintf("%v", (Broken(),)) == "%!v(PANIC=String method: ValueError)"


def test_a_list_holding_itself_is_cut_not_recursed() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    assert sprintf("%v", (loop,)).startswith("[1 [1 [1 ")


def test_a_plain_message_is_returned_unchanged() -> None:
    message = "no verbs here"
    assert sprintf(message, ()) is message
