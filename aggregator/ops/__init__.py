"""The operations page of the Django admin (``/admin/ops/``, staff only): sync health per bank, bank error rates
by kind, connections needing re-authentication, consents by status over time, the webhook backlog — charts
drawn server-side as SVG (``charts``) from aggregate queries (``selectors``).

Layer: beside ``aggregator.api`` and ``aggregator.webhooks`` (it reads consents and webhook deliveries).
"""
