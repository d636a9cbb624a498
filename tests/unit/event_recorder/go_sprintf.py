"""Go's own ``fmt.Sprintf``, the reference the recorder's formatting is tested against.

``tests/gofmt`` is a stdlib-only Go program; it is built once per source and Go version into
``~/.cache/redis-operator/gofmt-<hash>/`` (outside the repository) and fed cases as JSON.
Go is a prerequisite of this repository (README): without it these tests fail, loudly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parents[2] / "gofmt"
CACHE = Path.home() / ".cache" / "redis-operator"

Case = tuple[str, tuple[object, ...]]


class GoMissingError(RuntimeError):
    """The ``go`` toolchain is not installed: the comparison with Go cannot run."""


@cache
def binary() -> Path:
    """The built ``gofmtcheck``, building it first if this source was never built."""
    go = shutil.which("go")
    if go is None:
        raise GoMissingError("`go` (1.26+) is needed to compare with Go's fmt: see README.md")
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
    version = subprocess.run(
        [go, "env", "GOVERSION"], env=env, check=True, capture_output=True, text=True
    ).stdout
    digest = hashlib.sha256(version.encode())
    for name in ("go.mod", "main.go"):
        digest.update((SOURCE / name).read_bytes())
    target = CACHE / f"gofmt-{digest.hexdigest()[:16]}" / "gofmtcheck"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    subprocess.run(
        [go, "build", "-trimpath", "-o", str(partial), "."],
        cwd=SOURCE,
        env=env,
        check=True,
        capture_output=True,
    )
    partial.rename(target)
    return target


def _bits(value: float) -> str:
    return str(struct.unpack("<Q", struct.pack("<d", value))[0])


def typed(value: object) -> dict[str, Any]:
    """``value`` in the program's typed JSON, by the Python -> Go mapping the docs state."""
    if value is None:
        return {"t": "nil"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        kind = "int" if -(2**63) <= value < 2**63 else "bigint"
        return {"t": kind, "v": str(value)}
    if isinstance(value, float):
        return {"t": "float", "v": _bits(value)}
    if isinstance(value, complex):
        return {"t": "complex", "v": [_bits(value.real), _bits(value.imag)]}
    if isinstance(value, str):
        return {"t": "string", "v": value}
    if isinstance(value, bytes | bytearray):
        return {"t": "bytes", "v": base64.b64encode(value).decode()}
    if isinstance(value, Mapping):
        kinds = {type(key) for key in value}
        kind = (
            {str: "string", int: "int", float: "float", bool: "bool"}[kinds.pop()]
            if kinds
            else "string"
        )
        return {"t": "map", "k": kind, "v": [[typed(k), typed(v)] for k, v in value.items()]}
    if isinstance(value, Sequence):
        return {"t": "list", "v": [typed(item) for item in value]}
    raise TypeError(f"no Go counterpart for {value!r}")


def go_sprintf(cases: Sequence[Case]) -> list[str]:
    """What Go's ``fmt.Sprintf(format, args...)`` gives for each case."""
    payload = [{"format": fmt, "args": [typed(arg) for arg in args]} for fmt, args in cases]
    done = subprocess.run(
        [str(binary())], input=json.dumps(payload), capture_output=True, text=True, check=True
    )
    results: list[str] = json.loads(done.stdout)
    return results
