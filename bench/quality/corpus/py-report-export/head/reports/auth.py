"""Login check for the reports views."""

from __future__ import annotations

from functools import wraps

from flask import abort, g


def require_login(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if getattr(g, "user", None) is None:
            abort(401)
        return view(*args, **kwargs)

    return wrapped
