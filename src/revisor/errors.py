"""Revisor's error hierarchy.

Adapters translate library errors (httpx, python-gitlab, ldap3) into these, so the worker only
has to ask one question: retry later (`Retryable`) or give up with a message an admin can act on.
"""

from __future__ import annotations


class RevisorError(Exception):
    """Base of every error Revisor raises on purpose. The message is safe to show and log."""


class ConfigError(RevisorError):
    """The configuration is missing or wrong; the message says which setting and how to fix it."""


class Retryable(RevisorError):
    """Try again later. `retry_after` (seconds) is a hint from the remote side, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ForgeUnavailable(Retryable):
    """The Git server is down, overloaded (5xx, 429) or timed out."""


class ModelUnavailable(Retryable):
    """The model endpoint is down, overloaded or timed out. `endpoint`: its id, when known."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, endpoint: str = ""
    ) -> None:
        super().__init__(message, retry_after)
        self.endpoint = endpoint


class Fatal(RevisorError):
    """Retrying will not help; a person has to change something."""


class ForgeError(Fatal):
    """The Git server refused for good: bad token, missing scope, unknown project."""


class ModelError(Fatal):
    """The model endpoint refused for good (bad API key, unknown model). `endpoint`: its id."""

    def __init__(self, message: str, *, endpoint: str = "") -> None:
        super().__init__(message)
        self.endpoint = endpoint


class EgressDenied(Fatal):
    """An outbound connection to a host that is not on the allowlist was refused."""


class ResponseTooLarge(Fatal):
    """A remote server's answer was larger than Revisor reads (see `egress.MAX_RESPONSE_BYTES`)."""


class OutputInvalid(RevisorError):
    """The model's answer could not be turned into findings."""


class AuditWriteError(Fatal):
    """An audit record could not be written, so the action it records is refused."""


def brief(text: str, limit: int = 200) -> str:
    """`text` made safe to store and show as an error reason: control and formatting characters
    (newlines, ANSI escapes, bidi overrides) removed, whitespace collapsed, at most `limit`
    characters. Used for anything a remote server said that ends up in a message."""
    kept = "".join(" " if c.isspace() else c for c in text if c.isprintable() or c.isspace())
    kept = " ".join(kept.split())
    return kept if len(kept) <= limit else kept[: max(0, limit - 3)].rstrip() + "..."
