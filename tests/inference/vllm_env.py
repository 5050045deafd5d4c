"""The real vLLM for tests and benchmarks: the venv `make vllm` makes, and a model it can serve.

vLLM lives in its own venv (`.vllm-venv` in the checkout; `REVISOR_TEST_VLLM_VENV` names another).
Without it a test skips on a developer's machine and FAILS in CI (`CI=true`), where `.ci/run` has
run `make vllm`: a missing install step must not pass as a skipped test.

The model is the bundled SmolLM2 GGUF turned into a Hugging Face directory (hf_from_gguf.py, run
by the venv's python) once per venv and GGUF: it is kept under the venv, keyed by the GGUF's
sha256, and written to a temporary name first, so a crash never leaves half a model behind.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from revisor.inference.manifest import digest, load_manifest

ROOT = Path(__file__).resolve().parents[2]
CONVERTER = Path(__file__).with_name("hf_from_gguf.py")
BUNDLED = "smollm2-135m-instruct-q4_1"
MODEL_ID = "smollm2-135m-instruct-hf"
CONVERT_TIMEOUT = 600.0  # seconds; ~35 s on 2 quiet cores


class VllmMissing(Exception):
    """The vLLM venv is not there (or not complete)."""


@dataclass(frozen=True)
class VllmModel:
    python: Path  # the vLLM venv's interpreter, for `[model] vllm_python`
    path: Path  # the Hugging Face model directory
    sha256: str  # its tree digest, for the manifest
    size: int

    def manifest_entry(self, context: int = 4096) -> str:
        """A `[models.<id>]` table naming this model, for `<data dir>/models.toml`."""
        return (
            f'[models.{MODEL_ID}]\nfile = "{self.path}"\nsha256 = "{self.sha256}"\n'
            f'size = {self.size}\nengine = "vllm"\ncontext = {context}\n'
            'licence = "Apache-2.0"\ndescription = "SmolLM2 135M Instruct, bf16, from the GGUF"\n'
        )


def venv_dir() -> Path:
    return Path(os.environ.get("REVISOR_TEST_VLLM_VENV", ROOT / ".vllm-venv"))


def vllm_python() -> Path:
    """The vLLM venv's python; raises VllmMissing when `make vllm` has not completed."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists() or not python.exists():
        raise VllmMissing(f"needs vLLM in {venv}: run `make vllm`")
    return python


def require_vllm_python() -> Path:
    """vllm_python() for a test: skip without it, except in CI, where that is a failure."""
    try:
        return vllm_python()
    except VllmMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI runs `make vllm` before the tests)")
        pytest.skip(str(exc))


def hf_model(python: Path, cache: Path | None = None) -> VllmModel:
    """The bundled SmolLM2 as a Hugging Face directory, converted on first use, then reused."""
    spec = load_manifest().get(BUNDLED)
    gguf = spec.resolve()
    dest = (cache or venv_dir() / "revisor-models") / f"{MODEL_ID}-{spec.sha256[:16]}"
    if not (dest / "config.json").exists():
        done = subprocess.run(
            [str(python), str(CONVERTER), str(gguf), str(dest)],
            timeout=CONVERT_TIMEOUT,
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{CONVERTER.name} failed: {done.stderr[-3000:]}")
    sha, size = digest(dest)
    return VllmModel(python, dest, sha, size)
