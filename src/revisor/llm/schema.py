"""How Revisor asks for structured output: the findings JSON schema, and the mode per engine.

`FINDINGS_SCHEMA` is the answer format of the review prompt (review/prompts/system.txt) as a JSON
schema: what an engine's grammar enforces in `json_schema` mode.

`[model] structured_output` is `auto` (the default), `json_object` or `json_schema`.
`structured_output_for` turns `auto` into the mode measured best for each engine
(`bench/structured.py`, figures in bench/results/structured-output.md: same bundled model on
both engines, 8 distinct review requests per mode):

- vLLM: `json_schema`. As fast as `json_object` (46 vs 41 tokens/s, 5.2 vs 5.3 s a request) and
  every answer parses (0/8 refused by review/parse.py, against 6/8 with `json_object`);
- llama.cpp (llama-cpp-python): `json_schema` too. No slower (8.6 vs 15.5 s a request; 21.5 vs
  21.7 tokens/s in a first run), and 0/8 answers refused against 7/8: in JSON mode alone the
  small model answers JSON that is not the findings object;
- an external endpoint of unknown engine: `json_object`, the mode every OpenAI-compatible server
  understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revisor.errors import ConfigError

STRUCTURED_OUTPUT_MODES = ("json_object", "json_schema")
STRUCTURED_OUTPUT_SETTINGS = ("auto", *STRUCTURED_OUTPUT_MODES)
# Chosen by measurement: bench/structured.py, figures in bench/results/structured-output.md.
ENGINE_DEFAULTS: Mapping[str, str] = {"vllm": "json_schema", "llama.cpp": "json_schema"}
FALLBACK_MODE = "json_object"

FINDINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "line": {"type": "integer"},
                    # the code line the finding is about, copied from the diff (review.anchor)
                    "code": {"type": "string"},
                    "side": {"type": "string", "enum": ["new", "old"]},
                    "severity": {"type": "string", "enum": ["info", "minor", "major", "critical"]},
                    "title": {"type": "string"},
                    "body": {"type": "string"},
                    "suggestion": {"type": "string"},
                    "suggestion_start_line": {"type": "integer"},
                    "suggestion_end_line": {"type": "integer"},
                },
                "required": ["path", "line", "code", "side", "severity", "title", "body"],
            },
        }
    },
    "required": ["findings"],
}


def structured_output_for(engine: str, setting: str = "auto") -> str:
    """The structured-output mode to request from an endpoint of `engine` ("" when unknown)."""
    if setting not in STRUCTURED_OUTPUT_SETTINGS:
        raise ConfigError(
            f"[model] structured_output must be one of {', '.join(STRUCTURED_OUTPUT_SETTINGS)}"
            f" (got {setting!r})"
        )
    if setting != "auto":
        return setting
    return ENGINE_DEFAULTS.get(engine, FALLBACK_MODE)
