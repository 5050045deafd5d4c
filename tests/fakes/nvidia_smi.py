"""A strict stand-in for `nvidia-smi`, written as an executable script into a test's tmp dir.

It answers exactly the three invocations Revisor makes, in the real tool's output formats
(NVIDIA's nvidia-smi(1) man page, `--help-query-gpu`; driver 550 shown):

- `--query-gpu=index,name,driver_version,memory.total,memory.free --format=csv,noheader,nounits`
  prints one line per GPU: `0, NVIDIA H200, 550.54.15, 143771, 143292` (MiB, no unit);
- `-q -d MEMORY` prints the NVSMI LOG header (Timestamp, Driver Version, CUDA Version, Attached
  GPUs) and each GPU's FB Memory Usage block;
- `--query-compute-apps=pid,used_memory --format=csv,noheader,nounits`: `4242, 1536` lines,
  nothing at all when no process uses a GPU.

Any other argument, like the real tool given an invalid field, prints an error and exits 2.
`driver_missing=True` plays a host whose driver is not loaded: the real message, exit status 9.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = r"""#!{python}
import json, sys
CFG = json.loads({cfg!r})
args = sys.argv[1:]
if CFG["driver_missing"]:
    print("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
          "Make sure that the latest NVIDIA driver is installed and running.")
    sys.exit(9)
if CFG.get("hang"):
    import time
    time.sleep(60)
if args == ["--query-gpu=index,name,driver_version,memory.total,memory.free",
            "--format=csv,noheader,nounits"]:
    for i, (name, total, free) in enumerate(CFG["gpus"]):
        print(f"{{i}}, {{name}}, {{CFG['driver']}}, {{total}}, {{free}}")
elif args == ["-q", "-d", "MEMORY"]:
    print()
    print("==============NVSMI LOG==============")
    print()
    print("Timestamp                                 : Mon Nov 30 01:50:00 2026")
    print("Driver Version                            : " + CFG["driver"])
    print("CUDA Version                              : " + CFG["cuda"])
    print()
    print("Attached GPUs                             : %d" % len(CFG["gpus"]))
    for i, (name, total, free) in enumerate(CFG["gpus"]):
        print("GPU 00000000:%02X:00.0" % (i + 1))
        print("    FB Memory Usage")
        print("        Total                             : %s MiB" % total)
        print("        Reserved                          : 479 MiB")
        print("        Used                              : %s MiB" % (int(total) - int(free) - 479))
        print("        Free                              : %s MiB" % free)
        print()
elif args == ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]:
    for pid, used in CFG["apps"]:
        print(f"{{pid}}, {{used}}")
else:
    print("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.")
    sys.exit(2)
"""


@dataclass(frozen=True)
class FakeGpu:
    name: str = "NVIDIA H200"
    total_mib: int = 143771
    free_mib: int = 143292


def install(
    bin_dir: Path,
    gpus: tuple[FakeGpu, ...] = (FakeGpu(),),
    *,
    driver: str = "550.54.15",
    cuda: str = "12.4",
    apps: tuple[tuple[int, int], ...] = (),
    driver_missing: bool = False,
    hang: bool = False,
) -> Path:
    """Write `bin_dir/nvidia-smi` and return its path (put `bin_dir` first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    cfg = {
        "gpus": [(g.name, g.total_mib, g.free_mib) for g in gpus],
        "driver": driver,
        "cuda": cuda,
        "apps": list(apps),
        "driver_missing": driver_missing,
        "hang": hang,
    }
    path = bin_dir / "nvidia-smi"
    path.write_text(_SCRIPT.format(python=sys.executable, cfg=json.dumps(cfg)))
    path.chmod(0o755)
    return path
