"""Strict fake forges (real HTTP servers on 127.0.0.1) for tests; see each module's docstring."""

from .fake_gitea import FakeGitea, FakePR
from .fake_gitlab import LINE_CODE_ERROR, FakeGitLab, FakeMR
from .model import FakeFile, diff_lines, modified

__all__ = [
    "LINE_CODE_ERROR",
    "FakeFile",
    "FakeGitLab",
    "FakeGitea",
    "FakeMR",
    "FakePR",
    "diff_lines",
    "modified",
]
