"""Berlin Group NextGenPSD2 v1.3.11 adapter."""

from .adapter import BerlinGroupAdapter

__all__ = ["BerlinGroupAdapter"]
