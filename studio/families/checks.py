"""Checks on a stored model before anything of it is built or loaded: its architecture values against the
family's bounds, and its weight files' headers against the shapes those values give.

A model folder from an archive is data from a stranger. Building a network from its config allocates
memory in proportion to the config's numbers (a `latent_dim` of 40,000 is gigabytes), and a weights file
may hold other shapes than the config says. So an import first checks every config value against a `Bound`,
then reads only the header of each safetensors file (a few kilobytes, capped) and compares it with the
shapes the config gives, computed on PyTorch's "meta" device, which allocates nothing. Only a model that
passes is built for real, and then it costs what its weights file weighs.

The safetensors header is read here rather than with `safetensors.safe_open` because that reads headers
of up to 100 MB before anything can be checked; the format is 8 bytes of length and a JSON object.
"""
from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..core.errors import StudioError

MAX_HEADER_BYTES = 16 << 20  # a safetensors header: about 150 bytes per tensor
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


@dataclass(frozen=True)
class Bound:
    """The values one architecture key of a model config may take.

    kind: "whole" (an int, not a bool), "number" (int or float), "flag" (a bool), "choice" (one of
    `choices`), "text" (a string of at most `high` characters), "wholes" / "flags" / "texts" (a list of
    those, `length` = (fewest, most) items). `optional`: the key may be absent or null."""
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    length: tuple[int, int] = (0, 0)
    optional: bool = False

    def check(self, key: str, value: Any) -> Any:
        if value is None:
            if self.optional:
                return None
            raise StudioError(f"config {key} is missing; {self.describe()}")
        if self.kind in ("wholes", "flags", "texts"):
            if not isinstance(value, list) or not self.length[0] <= len(value) <= self.length[1]:
                raise StudioError(f"config {key} must be a list of {self.length[0]} to {self.length[1]} "
                                  f"{self.describe()}; got {_short(value)}")
            item = Bound(self.kind[:-1], self.low, self.high)
            for i, v in enumerate(value):
                item.check(f"{key}[{i}]", v)
            return value
        ok = {
            "whole": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool)
                      and math.isfinite(value),
            "flag": isinstance(value, bool),
            "choice": any(value == c and type(value) is type(c) for c in self.choices),
            "text": isinstance(value, str),
        }[self.kind]
        if ok and self.kind in ("whole", "number"):
            ok = (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        if ok and self.kind == "text":
            ok = len(value) <= (self.high or 256)
        if not ok:
            raise StudioError(f"config {key} must be {self.describe()}; got {_short(value)}")
        return value

    def describe(self) -> str:
        if self.kind in ("whole", "wholes"):
            return f"whole numbers from {_plain(self.low)} to {_plain(self.high)}" if self.kind == "wholes" \
                else f"a whole number from {_plain(self.low)} to {_plain(self.high)}"
        if self.kind == "number":
            return f"a number from {_plain(self.low)} to {_plain(self.high)}"
        if self.kind in ("flag", "flags"):
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        return f"text of at most {_plain(self.high or 256)} characters"


def whole(low: int, high: int, optional: bool = False) -> Bound:
    return Bound("whole", low, high, optional=optional)


def number(low: float, high: float, optional: bool = False) -> Bound:
    return Bound("number", low, high, optional=optional)


def flag(optional: bool = False) -> Bound:
    return Bound("flag", optional=optional)


def choice(*choices, optional: bool = False) -> Bound:
    return Bound("choice", choices=tuple(choices), optional=optional)


def text(most: int = 256, optional: bool = False) -> Bound:
    return Bound("text", high=most, optional=optional)


def wholes(low: int, high: int, fewest: int, most: int, optional: bool = False) -> Bound:
    return Bound("wholes", low, high, length=(fewest, most), optional=optional)


def flags(fewest: int, most: int, optional: bool = False) -> Bound:
    return Bound("flags", length=(fewest, most), optional=optional)


def texts(most_chars: int, fewest: int, most: int, optional: bool = False) -> Bound:
    return Bound("texts", high=most_chars, length=(fewest, most), optional=optional)


def check_values(config: Any, bounds: dict[str, Bound], what: str, ignore: Callable[[str], bool] = lambda k: False
                 ) -> dict:
    """`config` (a JSON object) with every key known to `bounds` and every value within its bound; keys
    that `ignore(key)` accepts (bookkeeping such as `_diffusers_version`) pass unchecked but must be short
    plain values. Raises StudioError naming the first key that is unknown, missing or out of bounds."""
    if not isinstance(config, dict):
        raise StudioError(f"{what} must be a JSON object")
    for key in config:
        if key not in bounds:
            if ignore(key) and _plain_value(config[key]):
                continue
            raise StudioError(f"{what} has the key {_short(key)}, which is not part of this kind of model; "
                              f"it takes: {', '.join(bounds)}")
    for key, bound in bounds.items():
        bound.check(key, config.get(key))
    return config


def _plain_value(value: Any, depth: int = 0) -> bool:
    """A short scalar, or a short flat list or object of them (bookkeeping such as rope settings)."""
    if isinstance(value, (bool, int, float)) or value is None:
        return True
    if isinstance(value, str):
        return len(value) <= 256
    if depth == 0 and isinstance(value, list):
        return len(value) <= 16 and all(_plain_value(v, 1) for v in value)
    if depth == 0 and isinstance(value, dict):
        return len(value) <= 32 and all(len(str(k)) <= 64 and _plain_value(v, 1) for k, v in value.items())
    return False


def identifier(key: str, value: Any) -> str:
    """A short name of a module or layer (letters, digits, '_', '.', '-')."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise StudioError(f"config {key} must be a module name (letters, digits, '_', '.', '-'); got {_short(value)}")
    return value


def read_json_file(path: Path, most_bytes: int = 1 << 20) -> dict:
    """A small JSON object from a model folder (a config file), refusing large or malformed ones by name."""
    name = path.name
    if not path.is_file():
        raise StudioError(f"{name} is missing")
    if path.stat().st_size > most_bytes:
        raise StudioError(f"{name} is larger than {most_bytes >> 10} KB; a config file is a few kilobytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StudioError(f"{name} is not valid JSON") from None
    if not isinstance(data, dict):
        raise StudioError(f"{name} must hold a JSON object")
    return data


# -- weights ------------------------------------------------------------------------------------------------
def read_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors file's header, reading at most MAX_HEADER_BYTES, with every
    entry checked against the file's size (so a file cannot claim more data than it holds)."""
    name = path.name
    if not path.is_file():
        raise StudioError(f"weights file {name} is missing")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise StudioError(f"weights file {name} is corrupt or not safetensors (too short)")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES or 8 + length > size:
            raise StudioError(f"weights file {name} is corrupt or not safetensors (its header length is wrong)")
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StudioError(f"weights file {name} is corrupt or not safetensors (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise StudioError(f"weights file {name} is corrupt or not safetensors")
    data_bytes = size - 8 - length
    shapes = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            ok = (dtype in DTYPE_BYTES and isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
                  and isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= data_bytes
                  and end - start == math.prod(shape) * DTYPE_BYTES[dtype])
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise StudioError(f"weights file {name} is corrupt or not safetensors (entry {_short(key)} does not "
                              "match the file)")
        shapes[key] = tuple(shape)
    return shapes


def expected_shapes(build: Callable[[], torch.nn.Module]) -> tuple[dict[str, tuple[int, ...]], set[str]]:
    """(name -> shape of every tensor in the network's state dict, names of tied duplicates) for a network
    built on the meta device: no memory is allocated, however large the config says it is."""
    try:
        with torch.device("meta"):
            module = build()
    except StudioError:
        raise
    except Exception as exc:  # a config the network's constructor does not accept
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise StudioError(f"the config does not describe a network that can be built ({type(exc).__name__}: "
                          f"{first[:200]})") from None
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    every = {n for n, _ in module.named_parameters(remove_duplicate=False)}
    unique = {n for n, _ in module.named_parameters()}
    return shapes, every - unique


def check_weights(path: Path, expected: dict[str, tuple[int, ...]], may_lack: set[str] = frozenset()) -> None:
    """The safetensors file at `path` holds exactly the tensors `expected` names, each of that shape (tensors
    in `may_lack`, such as tied duplicates, may be left out). Only the header is read."""
    found = read_header(path)
    name = path.name
    extra = sorted(set(found) - set(expected))
    if extra:
        raise StudioError(f"weights in {name} do not fit this model's architecture: it holds {len(extra)} "
                          f"tensor(s) the config does not make, such as {_short(extra[0])}")
    missing = sorted(set(expected) - set(found) - set(may_lack))
    if missing:
        raise StudioError(f"weights in {name} do not fit this model's architecture: {len(missing)} tensor(s) "
                          f"are missing, such as {_short(missing[0])}")
    for key, shape in found.items():
        if tuple(expected[key]) != shape:
            raise StudioError(f"weights in {name} do not fit this model's architecture: {_short(key)} has shape "
                              f"{list(shape)}, the config gives {list(expected[key])}")


def _short(value: Any, most: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= most else text[:most] + "..."


def _plain(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
