"""Security: the HTTP API's roles and tokens (``roles.py``, ``tokens.py``; docs/api.md) and
the platform's other safeguards (docs/security.md)."""
