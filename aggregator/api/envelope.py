"""The one response envelope of the third-party API: ``{"data", "links": {"self", "next"}, "meta"}``.

Used by the data API (:class:`aggregator.api.views.ConsentAPIView`) and by the consent resource
(``aggregator/api/consents.py``), so every ``2xx`` body under ``/api/v1/`` has the same shape;
:func:`envelope_schema` is its OpenAPI description.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from aggregator.middleware import request_id_for

from .serializers import LinksSerializer

__all__ = ["envelope", "envelope_schema"]


def envelope(request: Request, data: Any, *, next_query: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    """``{"data": data, "links": {"self", "next"}, "meta": {**meta, "request_id"}}``.

    ``next_query`` (the query parameters that change for the next page) makes ``links.next``; ``None`` means
    there is no next page.
    """
    next_url = None
    if next_query is not None:
        query = {k: v for k, v in request.query_params.items() if k not in next_query}
        query.update({k: v for k, v in next_query.items() if v is not None})
        next_url = request.build_absolute_uri(request.path) + "?" + urlencode(query)
    meta["request_id"] = request_id_for(request)
    return {"data": data, "links": {"self": request.build_absolute_uri(), "next": next_url}, "meta": meta}


def envelope_schema(name: str, data: Any, meta: dict[str, Any] | None = None) -> Any:
    """The OpenAPI component for an envelope around ``data`` (a serializer instance)."""
    fields: dict[str, Any] = {"data": data, "links": LinksSerializer()}
    fields["meta"] = inline_serializer(f"{name}Meta", meta or {"request_id": serializers.CharField()})
    return inline_serializer(name, fields)
