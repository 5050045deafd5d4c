"""Deterministic analyzers (ruff, and ast-grep with the project's own rule pack) run offline
over the head revision's files. An I/O edge like `revisor.llm`: it starts subprocesses, so the
pure review engine never imports it; the worker calls `run_analyzers` and hands the hits on."""

from revisor.analyzers.run import AnalyzerReport, run_analyzers

__all__ = ["AnalyzerReport", "run_analyzers"]
