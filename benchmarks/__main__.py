"""Run the benchmarks: ``python -m benchmarks [name ...]`` (default: all ``bench_*`` modules)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time

# bench_api's server settings and URLs: named like benchmarks, but nothing to run.
_SUPPORT_MODULES = {"bench_settings", "bench_urls"}


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aggregator.config.settings")
    import django

    django.setup()
    import benchmarks

    available = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_") and m.name not in _SUPPORT_MODULES
    )
    wanted = [a for a in argv if not a.startswith("-")] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    for name in wanted:
        print(f"\n=== benchmark: {name} ===", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"benchmarks.bench_{name}").run([a for a in argv if a.startswith("-")])
        print(f"=== {name} done in {time.perf_counter() - started:.1f}s ===", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
