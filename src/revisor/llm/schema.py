"""How Revisor asks for structured output: the findings JSON schema, and the mode per engine.

`FINDINGS_SCHEMA` is the answer format of the review prompt (review/prompts/system.txt) as a JSON
schema: what an engine's grammar enforces in `json_schema` mode.

`[model] structured_output` is `auto` (the default), `json_object` or `json_schema`.
`structured_output_for` turns `auto` into the mode measured best for each engine
(`bench/structured.py`, bench/results/structured-output.md):

- vLLM: `json_schema`. Its grammar backend costs little per token, and every answer parses;
- llama.cpp (llama-cpp-python): `json_object`. A grammar compiled from a schema with optional
  properties slows generation down, for no more valid answers on small models;
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
ENGINE_DEFAULTS: Mapping[str, str] = {"vllm": "json_schema", "llama.cpp": "json_object"}
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
                    "side": {"type": "string", "enum": ["new", "old"]},
                    "severity": {"type": "string", "enum": ["info", "minor", "major", "critical"]},
                    "title": {"type": "string"},
                    "body": {"type": "string"},
                    "suggestion": {"type": "string"},
                    "suggestion_start_line": {"type": "integer"},
                    "suggestion_end_line": {"type": "integer"},
                },
                "required": ["path", "line", "side", "severity", "title", "body"],
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
