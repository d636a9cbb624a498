"""Go-style ``Sprintf`` so ``eventf`` takes the format strings Go controllers use.

Like Go's ``fmt``, a bad verb or a missing or extra argument is rendered into the
text (``%!d(MISSING)``) instead of raising: recording an event must never fail.
"""

from __future__ import annotations

import json
import re

_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?([a-zA-Z%])")


def go_value(arg: object) -> str:
    """Render a value the way Go's ``%v`` would for the common cases."""
    if arg is None:
        return "<nil>"
    if isinstance(arg, bool):
        return "true" if arg else "false"
    return str(arg)


def _bad(verb: str, arg: object) -> str:
    return f"%!{verb}({type(arg).__name__}={go_value(arg)})"


def _format_one(flags: str, width: str, precision: str | None, verb: str, arg: object) -> str:
    spec = f"%{flags}{width}" + ("" if precision is None else f".{precision or 0}")
    integer = arg if isinstance(arg, int) and not isinstance(arg, bool) else None
    if verb in "vs":
        return (spec + "s") % go_value(arg)
    if verb == "q":
        return (spec + "s") % json.dumps(go_value(arg), ensure_ascii=False)
    if verb == "t":
        return (spec + "s") % go_value(arg) if isinstance(arg, bool) else _bad(verb, arg)
    if verb == "T":
        return (spec + "s") % type(arg).__name__
    if verb in "dxXo":
        return (spec + verb) % integer if integer is not None else _bad(verb, arg)
    if verb == "b":
        return format(integer, "b") if integer is not None else _bad(verb, arg)
    if verb == "c":
        return chr(integer) if integer is not None else _bad(verb, arg)
    if verb in "eEfFgG":
        return (spec + verb) % arg if isinstance(arg, int | float) else _bad(verb, arg)
    return _bad(verb, arg)


def sprintf(fmt: str, args: tuple[object, ...]) -> str:
    """Format ``args`` into ``fmt`` following Go's ``fmt.Sprintf`` conventions."""
    if not args and "%" not in fmt:
        return fmt
    out: list[str] = []
    pos = 0
    used = 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
        elif used >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_format_one(flags, width, precision, verb, args[used]))
            used += 1
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{type(a).__name__}={go_value(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
