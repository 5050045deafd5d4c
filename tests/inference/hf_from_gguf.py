"""Turn a GGUF model into a Hugging Face model directory for vLLM, offline. Runs in the vLLM venv.

    .vllm-venv/bin/python tests/inference/hf_from_gguf.py MODEL.gguf DEST

transformers reads GGUF (with `gguf` and `accelerate` installed) but a GGUF-quantised model cannot
be saved as it is loaded. So: read the config and the (dequantised) weights from the GGUF, build a
fresh model from the config without its quantization config, load the weights into it and save it
in bf16, with the tokenizer (and its chat template). Nothing is downloaded (HF_HUB_OFFLINE).

DEST is written to a sibling temporary directory and renamed into place, so a crash never leaves
a half-written model behind. Standalone on purpose: it imports nothing of Revisor.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def convert(gguf: Path, dest: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    state = quantised.state_dict()
    del quantised
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied embeddings (lm_head = embed_tokens) are not in the GGUF twice: that one may be missing.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit the config: missing {missing}, extra {unexpected}")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        model.save_pretrained(work, safe_serialization=True)
        tokenizer.save_pretrained(work)
        if dest.exists():
            shutil.rmtree(dest)
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    convert(Path(argv[0]).resolve(), Path(argv[1]).resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
