"""The inert pass on pathological text: time per call and how it grows with the input.

Every text Revisor posts goes through `text.inert.inert` (in render and again in the forge
adapter), and model text through `render.escape_markdown`. Both run on the worker thread that
also renews the job's lease, so they must stay linear whatever the model writes. For each
hostile shape, a 20,000-character line and a 200,000-character one (the parser's cap on a whole
model answer) are timed; `growth` is the ratio of the two times, about 10 when linear (100 if
quadratic).

    .venv/bin/python -m bench.inert
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from revisor.review.render import escape_markdown
from revisor.text.inert import inert

SHAPES: dict[str, str] = {
    "prose": "see @alice and group/app#12, www.evil.test, a@b.test; /approve ",
    "backticks": "` `` ",
    "escaped backticks": "\\`` ",
    "backslashes": "\\\\\\\\x",
    "references": "@a#1!2~b%c&3$4 ",
    "dotted run": "a.",
    "commas after a token": "@a,,,,,,,,,,,,,,,,,,,",
    "own html": "- <sub>",
    "entities": "&#35;&",
    "issue keys": "A-",
}
SIZES = (20_000, 200_000)


def _best_of(fn: Callable[[str], str], text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - started)
    return best


def run() -> dict[str, object]:
    rows: dict[str, object] = {}
    worst_growth = 0.0
    for name, unit in SHAPES.items():
        for fn in (inert, escape_markdown):
            small, large = ((unit * (n // len(unit) + 1))[:n] for n in SIZES)
            t_small, t_large = _best_of(fn, small), _best_of(fn, large)
            growth = t_large / t_small if t_small else 0.0
            worst_growth = max(worst_growth, growth)
            rows[f"{name} / {fn.__name__}"] = {
                "ms_20k": round(t_small * 1000, 1),
                "ms_200k": round(t_large * 1000, 1),
                "growth": round(growth, 1),
            }
    result = {"shapes": rows, "worst_growth_10x_input": round(worst_growth, 1)}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    run()
