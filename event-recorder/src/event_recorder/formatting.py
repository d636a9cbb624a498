"""Go's ``fmt.Sprintf`` over Python values, so ``eventf`` writes what a Go controller would.

Each argument is formatted as the Go value it stands for: ``str`` as ``string``, ``int`` as
``int`` (outside int64, ``*big.Int``), ``float`` as ``float64``, ``complex`` as
``complex128``, ``bool`` as ``bool``, ``None`` as ``nil``, ``list``/``tuple`` as
``[]interface {}``, a mapping as ``map[K]interface {}`` (K from its keys, printed sorted),
``bytes``/``bytearray`` as ``[]byte``; anything else as the string ``str(obj)``. Every verb,
flag, width, precision and argument index of Go's ``fmt`` is honoured except ``%p`` (Python
has no addresses). Like Go, a bad verb or a missing or extra argument is rendered into the
text (``%!d(MISSING)``) instead of raising: recording an event must never fail.

Inside, a Go string is a Python ``str`` whose invalid UTF-8 bytes are the lone surrogates
U+DC80..U+DCFF (``surrogateescape``), so widths and precisions count them as Go does; the
result carries U+FFFD for each, as Go's output reads once encoded in JSON.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

_MASK64 = (1 << 64) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_MAX_RUNE = 0x10FFFF
_TOO_LARGE = 1_000_000  # Go's bound on widths, precisions and argument indexes
_MAX_DEPTH = 100  # deeper nesting is formatted as str(obj)
_LOWER, _UPPER = "0123456789abcdefx", "0123456789ABCDEFX"
_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


class _BigInt(NamedTuple):
    """A Python int outside int64, formatted as Go's ``*big.Int``."""

    value: int


class _Uint8(NamedTuple):
    """One element of a ``[]byte``."""

    value: int


class _GoMap(NamedTuple):
    """A ``map[key_type]interface {}``, its items in the order Go prints them."""

    key_type: str
    items: tuple[tuple[_GoKey, _GoValue], ...]


_GoValue = (
    None | bool | int | _BigInt | _Uint8 | float | complex | str | bytes | list["_GoValue"] | _GoMap
)
"""A Python value converted to the Go value it stands for (``int`` fits int64)."""

_GoKey = None | bool | int | _BigInt | float | str
"""A Go map key: only comparable values."""


def _go_string(text: str) -> str:
    """A Python str as a Go string: lone surrogates, which UTF-8 cannot carry, become U+FFFD."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def _go_bytes_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _from_object(obj: object) -> str:
    try:
        return _go_string(str(obj))
    except Exception as error:  # a broken __str__ must not fail the recording
        return f"%!v(PANIC=String method: {type(error).__name__})"


def _go_value(arg: object, depth: int = 0) -> _GoValue:
    """The Go value ``arg`` stands for (see the module docstring)."""
    if arg is None or isinstance(arg, bool):
        return arg
    if isinstance(arg, int):
        number = int(arg)
        return number if _INT64_MIN <= number <= _INT64_MAX else _BigInt(number)
    if isinstance(arg, str):
        return _go_string(str.__str__(arg))
    if isinstance(arg, float):
        return float(arg)
    if isinstance(arg, complex):
        return complex(arg.real, arg.imag)
    if isinstance(arg, bytes | bytearray):
        return bytes(arg)
    if depth < _MAX_DEPTH:
        if isinstance(arg, list | tuple):
            return [_go_value(item, depth + 1) for item in arg]
        if isinstance(arg, Mapping):
            return _go_map(arg, depth + 1)
    return _from_object(arg)


_KEY_TYPES = {str: "string", int: "int", float: "float64", bool: "bool"}
_KEY_RANK = {type(None): 0, bool: 1, int: 2, _BigInt: 3, float: 4, str: 5}


def _go_map(mapping: Mapping[object, object], depth: int) -> _GoMap:
    items = [(_go_key(key, depth), _go_value(value, depth)) for key, value in mapping.items()]
    key_types = {_KEY_TYPES.get(type(key), "interface {}") for key, _ in items}
    key_type = "string" if not items else key_types.pop() if len(key_types) == 1 else "interface {}"
    items.sort(key=lambda item: _key_order(item[0]))
    return _GoMap(key_type, tuple(items))


def _go_key(key: object, depth: int) -> _GoKey:
    """Map keys must be comparable in Go: anything but a scalar becomes ``str(key)``."""
    value = _go_value(key, depth)
    return value if isinstance(value, str | int | float | _BigInt | None) else _from_object(key)


def _key_order(key: _GoKey) -> tuple[int, int, float | int | str]:
    """Go's order of map keys: by value, NaN first; nil before other interface values.

    Go orders keys of different types in a ``map[interface {}]`` by where their type
    descriptors lie in memory; here they are grouped by type instead.
    """
    rank = _KEY_RANK[type(key)]
    if key is None:
        return (rank, 1, 0)
    if isinstance(key, float) and math.isnan(key):
        return (rank, 0, 0)
    return (rank, 1, key.value if isinstance(key, _BigInt) else key)


def _go_type(value: _GoValue) -> str:
    """Go's ``%T`` of a converted value."""
    if value is None:
        return "<nil>"
    if isinstance(value, _GoMap):
        return f"map[{value.key_type}]interface {{}}"
    return _TYPE_NAMES[type(value)]


_TYPE_NAMES: dict[type, str] = {
    bool: "bool",
    int: "int",
    _BigInt: "*big.Int",
    _Uint8: "uint8",
    float: "float64",
    complex: "complex128",
    str: "string",
    bytes: "[]uint8",
    list: "[]interface {}",
}


# --- strconv.FormatFloat -------------------------------------------------------------------


class _Digits(NamedTuple):
    """A decimal ``0.<digits> x 10**point``, without leading or trailing zeros."""

    digits: str
    point: int


def _shortest_digits(value: float) -> _Digits:
    """The shortest digits that read back as ``value`` (Go and Python agree on them)."""
    _, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    return _Digits(text, len(digits) + int(exponent)) if text else _Digits("", 0)


def _fixed_digits(value: float, significant: int | None, decimals: int | None) -> _Digits:
    """Digits correctly rounded (half to even) to ``significant`` digits or ``decimals``."""
    if significant is not None:
        mantissa, exponent = f"{value:.{significant - 1}e}".split("e")
        text = mantissa.replace(".", "")
        point = int(exponent) + 1
    else:
        whole, _, fraction = f"{value:.{decimals}f}".partition(".")
        text = (whole + fraction).lstrip("0")
        point = len(whole) if whole != "0" else len(text) - len(fraction)
    text = text.rstrip("0")
    return _Digits(text, point) if text else _Digits("", 0)


def _format_e(negative: bool, d: _Digits, prec: int, verb: str) -> str:
    out = ["-"] if negative else []
    out.append(d.digits[0] if d.digits else "0")
    if prec > 0:
        shown = d.digits[1 : prec + 1]
        out += [".", shown, "0" * (prec - len(shown))]
    exponent = d.point - 1 if d.digits else 0
    out.append(f"{verb}{'-' if exponent < 0 else '+'}{abs(exponent):02d}")
    return "".join(out)


def _format_f(negative: bool, d: _Digits, prec: int) -> str:
    out = ["-"] if negative else []
    if d.point > 0:
        out.append(d.digits[: d.point].ljust(d.point, "0"))
    else:
        out.append("0")
    if prec > 0:
        fraction = "".join(
            d.digits[j] if 0 <= j < len(d.digits) else "0" for j in range(d.point, d.point + prec)
        )
        out += [".", fraction]
    return "".join(out)


def _format_digits(negative: bool, d: _Digits, prec: int, verb: str, shortest: bool) -> str:
    if verb in "eE":
        return _format_e(negative, d, prec, verb)
    if verb == "f":
        return _format_f(negative, d, prec)
    count = len(d.digits)
    eprec = count if prec > count >= d.point else prec
    if shortest:
        eprec = 6
    exponent = d.point - 1
    if exponent < -4 or exponent >= eprec:
        return _format_e(negative, d, min(prec, count) - 1, "e" if verb == "g" else "E")
    if prec > d.point:
        prec = count
    return _format_f(negative, d, max(prec - d.point, 0))


def _float_bits(value: float) -> tuple[bool, int, int]:
    """Sign, mantissa (with the implicit bit) and unbiased exponent of a finite float64."""
    (bits,) = struct.unpack("<Q", struct.pack("<d", value))
    exponent = (bits >> 52) & 0x7FF
    mantissa = bits & ((1 << 52) - 1)
    if exponent == 0:
        exponent = 1
    else:
        mantissa |= 1 << 52
    return bool(bits >> 63), mantissa, exponent - 1023


def _format_b(negative: bool, mantissa: int, exponent: int) -> str:
    exponent -= 52
    return f"{'-' if negative else ''}{mantissa}p{'+' if exponent >= 0 else ''}{exponent}"


def _format_x(negative: bool, mantissa: int, exponent: int, prec: int, verb: str) -> str:
    if mantissa == 0:
        exponent = 0
    mantissa <<= 8  # the leading bit at 1 << 60
    while mantissa and not mantissa & (1 << 60):
        mantissa <<= 1
        exponent -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mantissa << shift) & ((1 << 60) - 1)
        mantissa >>= 60 - shift
        if extra | (mantissa & 1) > 1 << 59:
            mantissa += 1
        mantissa <<= 60 - shift
        if mantissa & (1 << 61):
            mantissa >>= 1
            exponent += 1
    digits = _LOWER if verb == "x" else _UPPER
    out = ["-" if negative else "", "0", verb, str((mantissa >> 60) & 1)]
    mantissa = (mantissa << 4) & _MASK64
    if (prec < 0 and mantissa) or prec > 0:
        out.append(".")
        count = prec if prec > 0 else 16
        for _ in range(count):
            if prec < 0 and not mantissa:
                break
            out.append(digits[(mantissa >> 60) & 15])
            mantissa = (mantissa << 4) & _MASK64
    out.append(f"{'p' if verb == 'x' else 'P'}{'-' if exponent < 0 else '+'}{abs(exponent):02d}")
    return "".join(out)


def _format_float(value: float, verb: str, prec: int) -> str:
    """Go's ``strconv.FormatFloat(value, verb, prec, 64)``; ``prec`` -1 is the shortest."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    negative, mantissa, exponent = _float_bits(value)
    if verb == "b":
        return _format_b(negative, mantissa, exponent)
    if verb in "xX":
        return _format_x(negative, mantissa, exponent, prec, verb)
    magnitude = abs(value)
    shortest = prec < 0
    if magnitude == 0:
        d = _Digits("", 0)
    elif shortest:
        d = _shortest_digits(magnitude)
        prec = {"e": len(d.digits) - 1, "f": len(d.digits) - d.point}.get(
            verb.lower(), len(d.digits)
        )
        prec = max(prec, 0)
    elif verb in "eE":
        d = _fixed_digits(magnitude, prec + 1, None)
    elif verb == "f":
        d = _fixed_digits(magnitude, None, prec)
    else:
        prec = max(prec, 1)
        d = _fixed_digits(magnitude, prec, None)
    return _format_digits(negative, d, prec, verb, shortest)


# --- strconv.Quote -------------------------------------------------------------------------


def _printable(char: str) -> bool:
    """strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return char.isprintable()


def _escape(char: str, quote_char: str, ascii_only: bool) -> str:
    code = ord(char)
    if char in (quote_char, "\\"):
        return "\\" + char
    if 0xDC80 <= code <= 0xDCFF:  # an invalid UTF-8 byte
        return f"\\x{code - 0xDC00:02x}"
    if (code < 0x80 or not ascii_only) and _printable(char):
        return char
    if char in _ESCAPES:
        return _ESCAPES[char]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _quote(text: str, quote_char: str = '"', ascii_only: bool = False) -> str:
    """strconv.Quote (QuoteToASCII with ``ascii_only``) of a Go string."""
    return quote_char + "".join(_escape(c, quote_char, ascii_only) for c in text) + quote_char


def _can_backquote(text: str) -> bool:
    for char in text:
        code = ord(char)
        if code == 0xFEFF or 0xDC80 <= code <= 0xDCFF or char == "`" or code == 0x7F:
            return False
        if code < 0x20 and char != "\t":
            return False
    return True


def _rune(code: int) -> str:
    """A code point as Go writes it: invalid ones (surrogates, beyond U+10FFFF) are U+FFFD."""
    return chr(code) if code <= _MAX_RUNE and not 0xD800 <= code <= 0xDFFF else "\ufffd"


# --- the printer ---------------------------------------------------------------------------


class _Printer:
    """One ``Sprintf``: the output and the flags of the verb being formatted."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.raw_bytes = False
        self.clear()

    def clear(self) -> None:
        self.plus = self.minus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False
        self.wid_present = self.prec_present = False
        self.wid = self.prec = 0

    # padding

    def padding(self, count: int) -> None:
        if count > 0:
            self.out.append(("0" if self.zero and not self.minus else " ") * count)

    def pad(self, text: str) -> None:
        if not self.wid_present or self.wid == 0:
            self.out.append(text)
        elif self.minus:
            self.out.append(text)
            self.padding(self.wid - len(text))
        else:
            self.padding(self.wid - len(text))
            self.out.append(text)

    def pad_unzeroed(self, text: str) -> None:
        zero, self.zero = self.zero, False
        self.pad(text)
        self.zero = zero

    # integers

    def fmt_integer(self, value: int, base: int, verb: str, digits: str) -> None:
        negative = value < 0
        magnitude = -value if negative else value
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and magnitude == 0:
                zero, self.zero = self.zero, False
                self.padding(self.wid)
                self.zero = zero
                return
        elif self.zero and not self.minus and self.wid_present:
            prec = self.wid - (1 if negative or self.plus or self.space else 0)
        text = _in_base(magnitude, base, digits).rjust(prec, "0")
        if self.sharp:
            if base == 2:
                text = "0b" + text
            elif base == 8 and text[0] != "0":
                text = "0" + text
            elif base == 16:
                text = "0" + digits[16] + text
        if verb == "O":
            text = "0o" + text
        if negative:
            text = "-" + text
        elif self.plus:
            text = "+" + text
        elif self.space:
            text = " " + text
        self.pad_unzeroed(text)

    def fmt_0x64(self, value: int, leading_0x: bool) -> None:
        sharp, self.sharp = self.sharp, leading_0x
        self.fmt_integer(value, 16, "v", _LOWER)
        self.sharp = sharp

    def fmt_unicode(self, code: int) -> None:
        prec = self.prec if self.prec_present and self.prec > 4 else 4
        text = "U+" + f"{code:X}".rjust(prec, "0")
        if self.sharp and code <= _MAX_RUNE and _printable(chr(code)):
            text += f" '{chr(code)}'"
        self.pad_unzeroed(text)

    def print_integer(self, value: int, signed: bool, verb: str, arg: _GoValue) -> None:
        if verb == "v":
            if self.sharp_v and not signed:
                self.fmt_0x64(value, True)
            else:
                self.fmt_integer(value, 10, verb, _LOWER)
        elif verb in _INTEGER_BASES:
            base, digits = _INTEGER_BASES[verb]
            self.fmt_integer(value, base, verb, digits)
        elif verb == "c":
            self.pad(_rune(value & _MASK64))
        elif verb == "q":
            rune = _rune(value & _MASK64)
            self.pad(_quote(rune, "'", self.plus))
        elif verb == "U":
            self.fmt_unicode(value & _MASK64)
        else:
            self.bad_verb(verb, arg)

    def print_big(self, value: int, verb: str) -> None:
        """``(*big.Int).Format``: its own rules, close to but not quite fmt's."""
        if verb not in _BIG_BASES:
            self.out.append(f"%!{verb}(big.Int={value})")
            return
        base, digits = _BIG_BASES[verb]
        sign = "-" if value < 0 else "+" if self.plus or self.plus_v else " " if self.space else ""
        prefix = _BIG_PREFIXES.get(verb, "") if self.sharp or self.sharp_v else ""
        if verb == "O":
            prefix = "0o"
        text = _in_base(abs(value), base, digits)
        zeros = left = right = 0  # never zero (that fits an int): %.0d prints its digits
        if self.prec_present and len(text) < self.prec:
            zeros = self.prec - len(text)
        length = len(sign) + len(prefix) + zeros + len(text)
        if self.wid_present and length < self.wid:
            gap = self.wid - length
            if self.minus:
                right = gap
            elif self.zero and not self.prec_present:
                zeros = gap
            else:
                left = gap
        self.out.append(" " * left + sign + prefix + "0" * zeros + text + " " * right)

    # floats

    def fmt_float(self, value: float, verb: str, prec: int) -> None:
        if self.prec_present:
            prec = self.prec
        num = _format_float(value, verb, prec)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad_unzeroed(num)
            return
        if self.sharp and verb != "b":
            num = _sharp_float(num, verb, prec)
        if self.plus or num[0] != "+":
            if self.zero and not self.minus and self.wid_present and self.wid > len(num):
                self.out.append(num[0])
                self.padding(self.wid - len(num))
                self.out.append(num[1:])
            else:
                self.pad(num)
        else:
            self.pad(num[1:])

    def print_float(self, value: float, verb: str, arg: _GoValue) -> None:
        if verb == "v":
            self.fmt_float(value, "g", -1)
        elif verb in "bgGxX":
            self.fmt_float(value, verb, -1)
        elif verb in "feE":
            self.fmt_float(value, verb, 6)
        elif verb == "F":
            self.fmt_float(value, "f", 6)
        else:
            self.bad_verb(verb, arg)

    def print_complex(self, value: complex, verb: str) -> None:
        if verb not in "vbgGxXfFeE":
            self.bad_verb(verb, value)
            return
        plus = self.plus
        self.out.append("(")
        self.print_float(value.real, verb, value)
        self.plus = True
        self.print_float(value.imag, verb, value)
        self.out.append("i)")
        self.plus = plus

    # strings and bytes

    def truncated(self, text: str) -> str:
        return text[: self.prec] if self.prec_present else text

    def fmt_hex(self, data: bytes, digits: str) -> None:
        length = min(len(data), self.prec) if self.prec_present else len(data)
        if length == 0:
            if self.wid_present:
                self.padding(self.wid)
            return
        width = 2 * length
        if self.space:
            width = (width * 2 if self.sharp else width) + length - 1
        elif self.sharp:
            width += 2
        if self.wid_present and self.wid > width and not self.minus:
            self.padding(self.wid - width)
        prefix = "0" + digits[16] if self.sharp else ""
        parts = [digits[byte >> 4] + digits[byte & 15] for byte in data[:length]]
        self.out.append(prefix + ((" " + prefix) if self.space else "").join(parts))
        if self.wid_present and self.wid > width and self.minus:
            self.padding(self.wid - width)

    def fmt_q(self, text: str) -> None:
        text = self.truncated(text)
        if self.sharp and _can_backquote(text):
            self.pad("`" + text + "`")
        else:
            self.pad(_quote(text, '"', self.plus))

    def print_string(self, text: str, verb: str) -> None:
        if (verb == "v" and self.sharp_v) or verb == "q":
            self.fmt_q(text)
        elif verb in "vs":
            self.pad(self.truncated(text))
        elif verb in "xX":
            self.fmt_hex(_encoded(text), _LOWER if verb == "x" else _UPPER)
        else:
            self.bad_verb(verb, text)

    def print_bytes(self, data: bytes, verb: str, type_name: str) -> None:
        if verb in "vd":
            if self.sharp_v:
                self.out.append(type_name + "{")
                for index, byte in enumerate(data):
                    if index:
                        self.out.append(", ")
                    self.fmt_0x64(byte, True)
                self.out.append("}")
            else:
                self.out.append("[")
                for index, byte in enumerate(data):
                    if index:
                        self.out.append(" ")
                    self.fmt_integer(byte, 10, verb, _LOWER)
                self.out.append("]")
        elif verb == "s":
            self.raw_bytes = True
            self.pad(self.truncated(_go_bytes_text(data)))
        elif verb in "xX":
            self.fmt_hex(data, _LOWER if verb == "x" else _UPPER)
        elif verb == "q":
            self.fmt_q(_go_bytes_text(data))
        else:
            self.print_sequence([_Uint8(byte) for byte in data], verb, "[]uint8", 0)

    # composite values

    def print_element(self, value: _GoValue, verb: str, depth: int) -> None:
        """A value held in an ``interface {}`` inside a slice or map."""
        if value is None:
            self.out.append("interface {}(nil)" if self.sharp_v else "<nil>")
        else:
            self.print_value(value, verb, depth + 1)

    def print_sequence(self, items: list[_GoValue], verb: str, type_name: str, depth: int) -> None:
        interface = type_name == "[]interface {}"
        if self.sharp_v:
            self.out.append(type_name + "{")
        else:
            self.out.append("[")
        for index, item in enumerate(items):
            if index:
                self.out.append(", " if self.sharp_v else " ")
            if interface:
                self.print_element(item, verb, depth + 1)
            else:
                self.print_value(item, verb, depth + 1)
        self.out.append("}" if self.sharp_v else "]")

    def print_map(self, value: _GoMap, verb: str, depth: int) -> None:
        self.out.append(_go_type(value) + "{" if self.sharp_v else "map[")
        for index, (key, item) in enumerate(value.items):
            if index:
                self.out.append(", " if self.sharp_v else " ")
            if value.key_type == "interface {}":
                self.print_element(key, verb, depth + 1)
            else:
                self.print_value(key, verb, depth + 1)
            self.out.append(":")
            self.print_element(item, verb, depth + 1)
        self.out.append("}" if self.sharp_v else "]")

    def print_value(self, value: _GoValue, verb: str, depth: int) -> None:
        if isinstance(value, bool):
            if verb in "tv":
                self.pad("true" if value else "false")
            else:
                self.bad_verb(verb, value)
        elif isinstance(value, int):
            self.print_integer(value, True, verb, value)
        elif isinstance(value, _Uint8):
            self.print_integer(value.value, False, verb, value)
        elif isinstance(value, _BigInt):
            self.print_big(value.value, verb)
        elif isinstance(value, float):
            self.print_float(value, verb, value)
        elif isinstance(value, complex):
            self.print_complex(value, verb)
        elif isinstance(value, str):
            self.print_string(value, verb)
        elif isinstance(value, bytes):
            if depth == 0:
                self.print_bytes(value, verb, "[]byte")
            elif verb in "sqxX":
                self.print_bytes(value, verb, "[]uint8")
            else:
                self.print_sequence([_Uint8(byte) for byte in value], verb, "[]uint8", depth)
        elif isinstance(value, list):
            self.print_sequence(value, verb, "[]interface {}", depth)
        elif isinstance(value, _GoMap):
            self.print_map(value, verb, depth)

    def print_arg(self, arg: _GoValue, verb: str) -> None:
        if arg is None:
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb, None)
        elif verb == "T":
            self.pad(self.truncated(_go_type(arg)))
        elif verb == "p" or (verb == "w" and isinstance(arg, list | _GoMap | _BigInt)):
            self.bad_verb(verb, arg)
        else:
            self.print_value(arg, verb, 0)

    def bad_verb(self, verb: str, arg: _GoValue) -> None:
        self.out.append(f"%!{verb}(")
        if arg is None:
            self.out.append("<nil>")
        elif isinstance(arg, _BigInt):  # Go skips its Format method here, and shows the struct
            self.out.append("*big.Int=")
            self.big_struct(arg.value)
        else:
            self.out.append(_go_type(arg) + "=")
            self.print_arg(arg, "v")
        self.out.append(")")

    def big_struct(self, value: int) -> None:
        """A ``*big.Int`` as Go prints its fields: the sign, then 64-bit words, low first."""
        magnitude, words = abs(value), []
        while magnitude:
            words.append(magnitude & _MASK64)
            magnitude >>= 64
        sharp, plus = self.sharp_v, self.plus_v
        self.out.append("&big.Int{neg:" if sharp else "&{neg:" if plus else "&{")
        self.print_value(value < 0, "v", 1)
        self.out.append(", abs:big.nat{" if sharp else " abs:[" if plus else " [")
        for index, word in enumerate(words):
            if index:
                self.out.append(", " if sharp else " ")
            self.print_integer(word, False, "v", word)
        self.out.append("}}" if sharp else "]}")

    def extra(self, args: list[_GoValue]) -> None:
        self.clear()
        self.out.append("%!(EXTRA ")
        for index, arg in enumerate(args):
            if index:
                self.out.append(", ")
            if arg is None:
                self.out.append("<nil>")
            else:
                self.out.append(_go_type(arg) + "=")
                self.print_arg(arg, "v")
        self.out.append(")")


_INTEGER_BASES = {
    "d": (10, _LOWER),
    "b": (2, _LOWER),
    "o": (8, _LOWER),
    "O": (8, _LOWER),
    "x": (16, _LOWER),
    "X": (16, _UPPER),
}
_BIG_BASES = {**_INTEGER_BASES, "s": (10, _LOWER), "v": (10, _LOWER)}
_BIG_PREFIXES = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}
_INVALID_BYTES = dict.fromkeys(range(0xDC80, 0xDD00), 0xFFFD)


def _in_base(number: int, base: int, digits: str) -> str:
    if base == 10:
        return str(number)
    text = format(number, {2: "b", 8: "o", 16: "x"}[base])
    return text.upper() if digits is _UPPER else text


def _sharp_float(num: str, verb: str, prec: int) -> str:
    """The ``#`` flag: always a decimal point, and %g's trailing zeros kept."""
    digits = (6 if prec == -1 else prec) if verb in "vgGx" else 0
    tail = ""
    has_point = saw_nonzero = False
    index = 1
    while index < len(num):
        char = num[index]
        if char == ".":
            has_point = True
        elif char in "pP" or (char in "eE" and verb not in "xX"):
            num, tail = num[:index], num[index:]
            break
        else:
            saw_nonzero = saw_nonzero or char != "0"
            if saw_nonzero:
                digits -= 1
        index += 1
    if not has_point:
        if num[1:] == "0":
            digits -= 1
        num += "."
    return num + "0" * max(digits, 0) + tail


def _parse_number(fmt: str, start: int) -> tuple[int, bool, int]:
    """Go's parsenum: a decimal at ``start``; an absurdly long one eats the whole format."""
    number, found, index = 0, False, start
    while index < len(fmt) and "0" <= fmt[index] <= "9":
        if number > _TOO_LARGE:
            return 0, False, len(fmt)
        number = number * 10 + ord(fmt[index]) - 48
        found = True
        index += 1
    return number, found, index


class _Parse:
    """Where ``sprintf`` is in the format and the arguments."""

    __slots__ = ("after_index", "arg", "good_index", "reordered")

    def __init__(self) -> None:
        self.arg = 0
        self.after_index = False
        self.good_index = True
        self.reordered = False


def _arg_index(state: _Parse, fmt: str, index: int, count: int) -> int:
    """An explicit ``[n]`` at ``index``: moves to argument n; returns the index past it."""
    state.after_index = False
    if index >= len(fmt) or fmt[index] != "[":
        return index
    state.reordered = True
    close = fmt.find("]", index + 1) if len(fmt) - index >= 3 else -1
    if close < 0:
        state.good_index = False
        return index + 1
    number, found, end = _parse_number(fmt[:close], index + 1)
    if not found or end != close:
        state.good_index = False
        return close + 1
    if 1 <= number <= count:
        state.arg = number - 1
    else:
        state.good_index = False
    state.after_index = True
    return close + 1


def _int_arg(args: list[_GoValue], state: _Parse) -> tuple[int, bool]:
    """A ``*`` width or precision: the next argument, if it is a Go int of sane size."""
    if state.arg >= len(args):
        return 0, False
    value = args[state.arg]
    state.arg += 1
    if type(value) is int and -_TOO_LARGE <= value <= _TOO_LARGE:
        return value, True
    return 0, False


def _star(fmt: str, index: int) -> bool:
    return index < len(fmt) and fmt[index] == "*"


def sprintf(fmt: str, args: tuple[object, ...]) -> str:
    """Format ``args`` into ``fmt`` exactly as Go's ``fmt.Sprintf`` would."""
    if not args and "%" not in fmt:
        return fmt
    fmt = _go_string(fmt)
    values = [_go_value(arg) for arg in args]
    printer = _Printer()
    out = printer.out
    state = _Parse()
    end = len(fmt)
    index = 0
    while index < end:
        state.good_index = True
        start = index
        index = fmt.find("%", index)
        if index < 0:
            out.append(fmt[start:])
            break
        if index > start:
            out.append(fmt[start:index])
        index += 1
        printer.clear()
        while index < end and fmt[index] in "#0+- ":
            flag = fmt[index]
            if flag == "#":
                printer.sharp = True
            elif flag == "0":
                printer.zero = True
            elif flag == "+":
                printer.plus = True
            elif flag == "-":
                printer.minus = True
            else:
                printer.space = True
            index += 1
        index = _arg_index(state, fmt, index, len(values))
        if _star(fmt, index):
            index += 1
            printer.wid, printer.wid_present = _int_arg(values, state)
            if not printer.wid_present:
                out.append("%!(BADWIDTH)")
            if printer.wid < 0:
                printer.wid, printer.minus, printer.zero = -printer.wid, True, False
            state.after_index = False
        else:
            printer.wid, printer.wid_present, index = _parse_number(fmt, index)
            if state.after_index and printer.wid_present:
                state.good_index = False
        if index + 1 < end and fmt[index] == ".":
            index += 1
            if state.after_index:
                state.good_index = False
            index = _arg_index(state, fmt, index, len(values))
            if _star(fmt, index):
                index += 1
                printer.prec, printer.prec_present = _int_arg(values, state)
                if printer.prec < 0:
                    printer.prec, printer.prec_present = 0, False
                if not printer.prec_present:
                    out.append("%!(BADPREC)")
                state.after_index = False
            else:
                printer.prec, printer.prec_present, index = _parse_number(fmt, index)
                printer.prec_present = True
        if not state.after_index:
            index = _arg_index(state, fmt, index, len(values))
        if index >= end:
            out.append("%!(NOVERB)")
            break
        verb = fmt[index]
        index += 1
        if verb == "%":
            out.append("%")
        elif not state.good_index:
            out.append(f"%!{verb}(BADINDEX)")
        elif state.arg >= len(values):
            out.append(f"%!{verb}(MISSING)")
        else:
            if verb in "vw":
                printer.sharp_v, printer.sharp = printer.sharp, False
                printer.plus_v, printer.plus = printer.plus, False
            printer.print_arg(values[state.arg], verb)
            state.arg += 1
    if not state.reordered and state.arg < len(values):
        printer.extra(values[state.arg :])
    text = "".join(out)
    if printer.raw_bytes:  # bytes written as text: as Go's output reads once valid UTF-8
        text = _encoded(text).decode("utf-8", "surrogateescape").translate(_INVALID_BYTES)
    return text
