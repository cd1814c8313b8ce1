"""Operations: Prometheus metrics (``metrics``), the log context and JSON logs (``context``, ``logs``), the request
middleware (``middleware``), Celery task instrumentation (``celery``) and the protected ``/metrics`` view
(``views``). Listed in ``docs/operations.md``.

Data-domain layer: the sync engine and services may import it; it imports nothing above the data domain.
"""
