"""US cursor-delta dialect adapter."""

from .adapter import CursorDeltaAdapter

__all__ = ["CursorDeltaAdapter"]
