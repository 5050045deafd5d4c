"""Revisor: on-prem, air-gapped AI code review for GitLab and Gitea/Forgejo."""

__version__ = "0.1.0"
