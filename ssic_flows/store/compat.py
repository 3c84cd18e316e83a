"""Compatibility shims for MongoDB wire servers that are not MongoDB (test use only).

``mongo_compat: nx27017`` in the db config enables them; a real MongoDB needs ``none``.
"""

from __future__ import annotations

__all__ = ["apply_compat"]


def apply_compat(lp, mode: str) -> None:
    """Apply the named compatibility mode to a LaunchPad (``none`` does nothing)."""
    if mode in (None, "none"):
        return
    if mode != "nx27017":
        raise ValueError(f"unknown mongo_compat {mode!r}; use 'none' or 'nx27017'")
    lp._ssic_compat = mode  # noqa: SLF001 - read by the worker/query helpers
