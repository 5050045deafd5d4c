"""Operating the appliance: health checks (`revisor doctor`) and backup/restore.

`checks` holds small functions that each look at one thing and return `Check`s saying what is
wrong and how to fix it; `backup` copies the databases with SQLite's online backup API.
"""

from revisor.ops.checks import Check

__all__ = ["Check"]
