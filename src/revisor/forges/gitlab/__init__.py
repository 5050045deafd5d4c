"""GitLab: everything Revisor knows about it, and the only package that imports python-gitlab.

- `api.py`: the `Forge` adapter (REST calls through python-gitlab on the egress session);
- `hooks.py`: webhook authentication, event classification, the dedup key (`ForgeHooks`);
- `access.py`: what `revisor doctor` checks (token scope, project access).
"""
