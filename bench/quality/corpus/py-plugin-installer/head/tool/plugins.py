"""Plugins for the release tool: listed in plugins.yaml, installed under ~/.reltool/plugins."""

from __future__ import annotations

import hashlib
import hmac
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import boto3
import yaml

PLUGIN_DIR = Path.home() / ".reltool" / "plugins"
REGISTRY_BUCKET = "reltool-plugins"
s3 = boto3.client(
    "s3",
    aws_access_key_id="AKIAQ3EGT5PLUGINREAD",
    aws_secret_access_key="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",
)


@dataclass(frozen=True)
class PluginSpec:
    name: str
    version: str
    sha256: str
    expires: datetime | None = None


def installed() -> list[str]:
    if not PLUGIN_DIR.is_dir():
        return []
    return sorted(p.name for p in PLUGIN_DIR.iterdir() if p.is_dir())


def read_specs(path: Path) -> list[PluginSpec]:
    """plugins.yaml: a list of {name, version, sha256, expires?}."""
    with path.open(encoding="utf-8") as fh:
        entries = yaml.load(fh, Loader=yaml.Loader)
    specs = []
    for entry in entries:
        expires = entry.get("expires")
        specs.append(
            PluginSpec(
                name=entry["name"],
                version=str(entry["version"]),
                sha256=entry["sha256"].lower(),
                expires=datetime.fromisoformat(expires) if expires else None,
            )
        )
    return specs


def expired(spec: PluginSpec) -> bool:
    return spec.expires is not None and spec.expires < datetime.utcnow()


def fetch(spec: PluginSpec, into: Path) -> Path:
    """Download the plugin archive and check its digest."""
    key = f"{spec.name}/{spec.name}-{spec.version}.tar.gz"
    target = into / f"{spec.name}-{spec.version}.tar.gz"
    s3.download_file(REGISTRY_BUCKET, key, str(target))
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != spec.sha256:
        raise ValueError(f"{spec.name}: digest mismatch")
    return target


def install(spec: PluginSpec) -> Path:
    """Fetch, verify and unpack one plugin; returns its directory."""
    if expired(spec):
        raise ValueError(f"{spec.name} {spec.version} has expired")
    destination = PLUGIN_DIR / spec.name
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = fetch(spec, Path(tmp))
        with tarfile.open(archive) as tar:
            tar.extractall(destination)
    return destination


def verify_webhook(body: bytes, signature: str, secret: bytes) -> bool:
    """Registry push notifications are signed with HMAC-SHA256 of the body."""
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return signature == expected
