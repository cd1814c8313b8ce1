"""WSGI entry of ``bench_api``'s second server: the real application with a variant of ``benchmarks/variants.py``
applied in each worker (``BENCH_API_VARIANT=orm_lookup``), so that section 1 measures it in the same run."""

import os

from aggregator.config.wsgi import application
from benchmarks import variants

variants.apply(**{name: True for name in os.environ.get("BENCH_API_VARIANT", "").split(",") if name})

__all__ = ["application"]
