"""UK Open Banking (OBIE) v3.1.11 adapter."""

from .adapter import OBIEAdapter

__all__ = ["OBIEAdapter"]
