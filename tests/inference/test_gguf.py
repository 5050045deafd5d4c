"""The GGUF header reader: the bundled model's shape, and damaged files refused."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from revisor.inference import manifest
from revisor.inference.gguf import GgufError, model_shape, read_metadata


def _kv_string(key: str, value: str) -> bytes:
    k, v = key.encode(), value.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", 8) + struct.pack("<Q", len(v)) + v


def _kv_u32(key: str, value: int) -> bytes:
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<II", 4, value)


def _gguf(path: Path, *pairs: bytes, count: int | None = None) -> Path:
    n = len(pairs) if count is None else count
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, n) + b"".join(pairs))
    return path


def test_the_bundled_model_shape() -> None:
    """SmolLM2-135M (llama): 30 layers, 3 KV heads of 64; llama.cpp logs a 180 MiB f16 KV cache
    at 8192 tokens for it."""
    try:
        path = (
            manifest.load_manifest(Path("/nonexistent")).get("smollm2-135m-instruct-q4_1").resolve()
        )
    except Exception as exc:  # the model package is optional here
        pytest.skip(f"bundled model not installed: {exc}")
    shape = model_shape(path)
    assert (shape.architecture, shape.block_count, shape.head_count_kv) == ("llama", 30, 3)
    assert (shape.key_length, shape.value_length) == (64, 64)
    assert shape.kv_cache_bytes(8192) == 180 * 1024**2


def test_defaults_and_arrays_skipped(tmp_path: Path) -> None:
    tokens = b"".join(struct.pack("<Q", 3) + b"abc" for _ in range(1000))
    array = (struct.pack("<Q", 21) + b"tokenizer.ggml.tokens" + struct.pack("<IIQ", 9, 8, 1000)
             + tokens)  # fmt: skip
    path = _gguf(
        tmp_path / "m.gguf",
        _kv_string("general.architecture", "qwen2"),
        array,
        _kv_u32("qwen2.block_count", 28),
        _kv_u32("qwen2.embedding_length", 1536),
        _kv_u32("qwen2.attention.head_count", 12),
        _kv_u32("qwen2.attention.head_count_kv", 2),
    )
    shape = model_shape(path)
    assert (shape.block_count, shape.head_count_kv, shape.key_length) == (28, 2, 128)
    assert "tokenizer.ggml.tokens" not in read_metadata(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GGML" + b"\0" * 20, "not a GGUF file"),
        (b"GGUF" + struct.pack("<IQQ", 7, 0, 0), "version 7"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 40), "metadata keys"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40), "a string of"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + _kv_u32("a", 1), "ends inside"),
    ],
)
def test_damaged_headers_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(GgufError, match=message):
        read_metadata(path)


def test_missing_shape_keys_are_refused(tmp_path: Path) -> None:
    path = _gguf(tmp_path / "m.gguf", _kv_string("general.architecture", "llama"))
    with pytest.raises(GgufError, match=r"llama\.attention\.head_count"):
        model_shape(path)
