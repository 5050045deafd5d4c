"""Just enough of a GGUF file's header to size a model's KV cache (no third-party reader).

A GGUF file starts with `GGUF`, a version (2 or 3), the tensor count and the metadata key/value
count, then the key/value pairs (spec: ggml's docs/gguf.md). Only scalar values whose key we need
are kept; arrays (the tokenizer's vocabulary: tens of thousands of strings) are skipped by
seeking. Every length is bounded, so a damaged or hostile file ends in a `GgufError`, not in a
huge allocation or an endless loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from revisor.errors import RevisorError

MAGIC = b"GGUF"
MAX_KEYS = 100_000
MAX_STRING = 1 << 20  # a key or a kept string value; longer ones are refused
# value type -> struct format of one scalar (8 = string, 9 = array)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9


class GgufError(RevisorError):
    """The file is not a GGUF file this reader understands."""


@dataclass(frozen=True)
class ModelShape:
    """What the KV cache size depends on: layers, KV heads and the width of a key and a value."""

    architecture: str
    block_count: int
    head_count_kv: int
    key_length: int
    value_length: int

    def kv_cache_bytes(self, n_ctx: int, *, bytes_per_value: int = 2) -> int:
        """K and V for every layer and position; llama.cpp's default cache type is f16 (2)."""
        per_token = self.block_count * self.head_count_kv * (self.key_length + self.value_length)
        return n_ctx * per_token * bytes_per_value


def _read(f: BinaryIO, fmt: str) -> int | float | bool:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise GgufError("the file ends inside its header")
    value: int | float | bool = struct.unpack(fmt, data)[0]
    return value


def _length(f: BinaryIO) -> int:
    return int(_read(f, "<Q"))


def _string(f: BinaryIO) -> str:
    n = _length(f)
    if n > MAX_STRING:
        raise GgufError(f"a string of {n} bytes in the header")
    data = f.read(n)
    if len(data) != n:
        raise GgufError("the file ends inside its header")
    return data.decode("utf-8", "replace")


def _skip(f: BinaryIO, kind: int) -> None:
    if kind in _SCALARS:
        f.seek(struct.calcsize(_SCALARS[kind]), 1)
    elif kind == _STRING:
        f.seek(_length(f), 1)
    elif kind == _ARRAY:
        inner, count = int(_read(f, "<I")), _length(f)
        if inner in _SCALARS:
            f.seek(count * struct.calcsize(_SCALARS[inner]), 1)
        elif inner == _STRING:
            for _ in range(count):
                f.seek(_length(f), 1)
        else:
            raise GgufError(f"an array of value type {inner}")
    else:
        raise GgufError(f"unknown value type {kind}")


def read_metadata(path: Path, wanted: frozenset[str] | None = None) -> dict[str, object]:
    """The scalar metadata of a GGUF file (only the keys in `wanted`, if given)."""
    with path.open("rb") as f:
        if f.read(4) != MAGIC:
            raise GgufError(f"{path} is not a GGUF file")
        version = int(_read(f, "<I"))
        if version not in (2, 3):
            raise GgufError(f"{path}: GGUF version {version} is not supported")
        _length(f)  # tensor count
        keys = _length(f)
        if keys > MAX_KEYS:
            raise GgufError(f"{path}: {keys} metadata keys")
        out: dict[str, object] = {}
        for _ in range(keys):
            key = _string(f)
            kind = int(_read(f, "<I"))
            if (wanted is None or key in wanted) and kind in _SCALARS:
                out[key] = _read(f, _SCALARS[kind])
            elif (wanted is None or key in wanted) and kind == _STRING:
                out[key] = _string(f)
            else:
                _skip(f, kind)
        return out


def model_shape(path: Path) -> ModelShape:
    """Layers, KV heads and head widths of a GGUF model, from its `<arch>.*` metadata."""
    arch_meta = read_metadata(path, frozenset({"general.architecture"}))
    arch = arch_meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise GgufError(f"{path}: no general.architecture")
    names = (
        "block_count",
        "embedding_length",
        "attention.head_count",
        "attention.head_count_kv",
        "attention.key_length",
        "attention.value_length",
    )
    meta = read_metadata(path, frozenset(f"{arch}.{n}" for n in names))

    def number(name: str, default: int | None = None) -> int:
        value = meta.get(f"{arch}.{name}", default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise GgufError(f"{path}: {arch}.{name} missing or not a positive integer")
        return value

    heads = number("attention.head_count")
    head_dim = number("embedding_length") // heads
    return ModelShape(
        architecture=arch,
        block_count=number("block_count"),
        head_count_kv=number("attention.head_count_kv", heads),
        key_length=number("attention.key_length", head_dim),
        value_length=number("attention.value_length", head_dim),
    )
