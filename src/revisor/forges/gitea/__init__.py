"""Gitea and Forgejo: everything Revisor knows about them.

- `api.py`: the `Forge` adapter (REST calls through httpx from `Egress.client`);
- `hooks.py`: webhook authentication, event classification, the dedup key (`ForgeHooks`);
- `access.py`: what `revisor doctor` checks (token, write access to the repository).
"""
