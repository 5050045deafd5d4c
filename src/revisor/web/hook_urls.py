"""Per-repository hook URLs. The webhook rules themselves (authentication, classification,
dedup keys) are each forge's own: see `revisor.forges.hooks_for`."""

from __future__ import annotations

import re

from revisor.domain import ForgeKind

HOOK_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def is_hook_key(value: str) -> bool:
    """Whether `value` can be a repository's hook key (see `store.repos.new_hook_key`)."""
    return HOOK_KEY_RE.fullmatch(value) is not None


def group_hook_url(public_url: str, forge: ForgeKind) -> str:
    """Where a group (organisation) hook posts: the forge's shared URL, where a delivery is
    proven against the secrets of that forge's repositories and routed by its project."""
    return f"{public_url.rstrip('/')}/hooks/{forge.value}"


def hook_url(public_url: str, forge: ForgeKind, hook_key: str) -> str:
    """The URL a repository's webhook posts to: one secret to check per delivery. Repositories
    registered before per-repository URLs may still post to the legacy `/hooks/<forge>`."""
    return f"{public_url.rstrip('/')}/hooks/{forge.value}/{hook_key}"
