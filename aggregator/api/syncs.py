"""Syncs a third party can ask for and follow: ``POST /consents/{id}/refresh`` and ``GET /syncs/{id}``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from . import selectors, services
from .base import COMMON_ERRORS, ConsentAPIView, envelope_schema, errors_schema, parse_uuid, path_id
from .serializers import SyncRunSerializer, syncrun_data
from .throttles import ConsentRefreshThrottle, DataAPIThrottle

__all__ = ["ConsentRefreshView", "SyncRunDetailView"]


class ConsentRefreshView(ConsentAPIView):
    """Ask for fresh data from the banks behind the consent (any permission)."""

    required_permission = None
    # The per-consent refresh limit is checked in ``post`` once the request is valid, and counts accepted refreshes.
    throttle_classes = [DataAPIThrottle]

    @extend_schema(
        operation_id="consents_refresh",
        parameters=[path_id("consent_id", "consent")],
        summary="Ask for a fresh sync of the consent's bank connections",
        description=(
            "Queues one sync per active bank connection behind the consent and answers 202 with the sync id "
            "(`data.id`; all of them in `meta.sync_ids`). Limited per consent (default 3 an hour) and never "
            "beyond a bank's own limit of unattended access, counting the syncs already queued (rhein: 4 counted calls "
            "a day, 2 per sync): 429 `bank_limit_reached` with `Retry-After`, never a 202 for a sync the bank "
            "would refuse."
        ),
        auth=[{"oauth2": []}],
        request=None,
        responses={
            202: envelope_schema(
                "RefreshAccepted",
                SyncRunSerializer(),
                {
                    "request_id": serializers.CharField(),
                    "sync_ids": serializers.ListField(child=serializers.UUIDField()),
                },
            ),
            **errors_schema(*COMMON_ERRORS, 409, 415),
        },
        tags=["syncs"],
    )
    def post(self, request: Request, consent_id: str) -> Response:
        if parse_uuid(consent_id) != request.consent.pk:
            raise NotFound("No such consent for this token.")
        _ = request.data  # a body, if any, must be JSON (415 otherwise)
        limit = ConsentRefreshThrottle()
        if not limit.allow_request(request, self):
            self.throttled(request, limit.wait())
        try:
            runs = services.consent_refresh_request(consent=request.consent)
        except Exception:
            limit.refund()
            raise
        body = self.envelope(
            request,
            syncrun_data(runs[0], runs[0].connection.institution.slug),
            sync_ids=[r.public_id for r in runs],
        )
        return Response(body, status=202)


class SyncRunDetailView(ConsentAPIView):
    """State and counts of a sync of one of the consent's connections (any permission)."""

    required_permission = None

    @extend_schema(
        operation_id="syncs_retrieve",
        parameters=[path_id("sync_id", "sync")],
        summary="State of a sync",
        description=(
            "`state` is the run's outcome so far. `in_progress` is true while it is queued or running; "
            "`interrupted` is true when it started and stopped without finishing (its worker died): its counts "
            "are partial and it resumes by itself within minutes (no row lost or duplicated). Until "
            "`in_progress` is false, the data it brings is partly stored."
        ),
        auth=[{"oauth2": []}],
        responses={200: envelope_schema("SyncRunDetail", SyncRunSerializer()), **errors_schema(*COMMON_ERRORS)},
        tags=["syncs"],
    )
    def get(self, request: Request, sync_id: str) -> Response:
        run = selectors.syncrun_get_for_consent(consent=request.consent, sync_id=parse_uuid(sync_id))
        interrupted = selectors.syncrun_interrupted(run=run)
        return Response(
            self.envelope(request, syncrun_data(run, run.connection.institution.slug, interrupted=interrupted))
        )
