"""Dashboard sign-in: LDAP (ldap.py), the local break-glass admin (local.py), server-side sessions
(sessions.py), CSRF (csrf.py), login throttling (throttle.py), role guards (guards.py) and the
sign-in/out routes (routes.py)."""
