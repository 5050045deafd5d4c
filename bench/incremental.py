"""Incremental review: prompt tokens of a second push that touches 1 file of a 10-file merge
request, against the full review of the same merge request (issue 16, item 8: at most a third).

The real llama.cpp sidecar with the bundled model (through the recording proxy, which reads the
sidecar's own `usage`), the strict fake GitLab, the real web app and worker runner: a webhook
for the first head is a full review; a push of one commit touching one file, then the webhook
for the new head, is the incremental review. Reported: prompt tokens, model calls and the files
each review sent to the model, and the ratio.

    .venv/bin/python -m bench.incremental
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.model import FakeFile

from bench._common import (
    GL_TOKEN,
    BenchAppliance,
    RecordingProxy,
    generate_files,
    start_sidecar,
)

PROJECT = "group/app"
FILES = 10
LINES_PER_FILE = 12
TARGET = 1 / 3


def _files_seen(proxy: RecordingProxy, label: str, paths: list[str]) -> list[str]:
    prompts = "\n".join(c.prompt for c in proxy.calls if c.label == label)
    return [p for p in paths if p in prompts]


def run() -> dict[str, Any]:
    gitlab = FakeGitLab(token=GL_TOKEN)
    gitlab_url = gitlab.start()
    try:
        with start_sidecar() as sidecar, tempfile.TemporaryDirectory() as tmp:
            proxy = RecordingProxy(sidecar.base_url)
            proxy_url = proxy.start()
            app = BenchAppliance(
                Path(tmp), gitlab_url, proxy_url, sidecar.model_id, sidecar.api_key
            )
            try:
                files = generate_files(FILES, LINES_PER_FILE)
                paths = [f.new_path for f in files]
                gitlab.add_merge_request(PROJECT, 1, files)
                first = gitlab.mrs[(PROJECT, 1)].versions[0][2]
                proxy.label = "full"
                full_job, full_wall = app.review(1, first)
                changed = FakeFile(files[0].new_path, files[0].diff.replace("result", "res"))
                head = gitlab.push_commit(
                    PROJECT, 1, [changed, *files[1:]], touched=(changed.new_path,)
                )[2]
                proxy.label = "incremental"
                inc_job, inc_wall = app.review(1, head)
            finally:
                app.close()
                proxy.stop()
            full, inc = proxy.totals("full"), proxy.totals("incremental")
            ratio = inc["prompt_tokens"] / full["prompt_tokens"] if full["prompt_tokens"] else None
            return {
                "files": FILES,
                "changed_lines_per_file": LINES_PER_FILE,
                "model": sidecar.model_id,
                "full": {
                    **full,
                    "state": full_job.state,
                    "wall_seconds": round(full_wall, 1),
                    "files_in_prompts": len(_files_seen(proxy, "full", paths)),
                },
                "incremental": {
                    **inc,
                    "state": inc_job.state,
                    "wall_seconds": round(inc_wall, 1),
                    "files_in_prompts": len(_files_seen(proxy, "incremental", paths)),
                },
                "prompt_token_ratio": round(ratio, 3) if ratio is not None else None,
                "target": f"<= {TARGET:.3f}",
                "meets_target": ratio is not None and ratio <= TARGET,
            }
    finally:
        gitlab.stop()


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
