"""Settings for ``bench_api``'s gunicorn: the real settings plus the benchmark-only URLs (bare and everyday
baselines), DEBUG off, throttles too high to trigger (but still counted), and Redis as the cache when reachable."""

from aggregator.config.settings import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchmarks.bench_urls"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"tpp": "100000000/min", "consent": "100000000/min", "consent_refresh": "3/hour"},
}
CACHES = {"default": env.cache("BENCH_CACHE_URL", default="redis://127.0.0.1:6379/7")}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
