"""Syncs a third party can ask for and follow: ``POST /consents/{id}/refresh`` and ``GET /syncs/{id}``."""

from __future__ import annotations

import ipaddress

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from aggregator.sync.unattended import DATA_TYPES, unattended_budget_meta

from . import selectors, services
from .base import COMMON_ERRORS, ConsentAPIView, envelope_schema, errors_schema, parse_uuid, path_id
from .serializers import SyncRunSerializer, syncrun_data
from .throttles import ConsentRefreshThrottle, DataAPIThrottle

__all__ = ["ConsentRefreshView", "SyncRunDetailView"]

# The headers by which a TPP says its user is present (and gives their address), as the bank APIs ask.
USER_PRESENT_HEADERS = ("PSU-IP-Address", "x-fapi-customer-ip-address")


class RefreshSerializer(serializers.Serializer):
    data_types = serializers.ListField(
        child=serializers.ChoiceField(choices=DATA_TYPES),
        required=False,
        allow_empty=False,
        help_text="What to read: any of accounts, balances, transactions, each a permission of the consent "
        "(default: every one the consent permits). Each has its own unattended-access budget.",
    )


class TypeBudgetSerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        allow_null=True, help_text="Unattended accesses allowed per account per 24 hours (null: no cap)"
    )
    remaining = serializers.IntegerField(
        allow_null=True, help_text="How many are left now on the account with the fewest (null: no cap)"
    )
    next_free_at = serializers.DateTimeField(
        allow_null=True, help_text="When none is left: when every account has one again (else null: now)"
    )


class UnattendedAccessSerializer(serializers.Serializer):
    accounts = TypeBudgetSerializer()
    balances = TypeBudgetSerializer()
    transactions = TypeBudgetSerializer()


UNATTENDED_META = UnattendedAccessSerializer(
    help_text="The regulatory budget of unattended access (RTS Art. 36(5)) per data type, over the accounts of the "
    "bank connections concerned, after this request; times on the compliance clock (the sandbox clock in the sandbox)."
)


def _user_ip(request: Request) -> str:
    """The user's IP address when the TPP says the user is present (``USER_PRESENT_HEADERS``), else ''."""
    for name in USER_PRESENT_HEADERS:
        value = (request.headers.get(name) or "").strip()
        if value:
            try:
                return str(ipaddress.ip_address(value))
            except ValueError:
                raise ValidationError({name: ["Enter a valid IPv4 or IPv6 address."]}, code="invalid") from None
    return ""


class ConsentRefreshView(ConsentAPIView):
    """Ask for fresh data from the banks behind the consent (any permission)."""

    required_permission = None
    # The per-consent refresh limit is checked in ``post`` once the request is valid, and counts accepted refreshes.
    throttle_classes = [DataAPIThrottle]

    @extend_schema(
        operation_id="consents_refresh",
        summary="Ask for a fresh sync of the consent's bank connections",
        description=(
            "Queues one sync per active bank connection behind the consent and answers 202 with the sync id "
            "(`data.id`; all of them in `meta.sync_ids`). The body may name the data types to read "
            '(`{"data_types": ["balances"]}`; default: all the consent permits). Limited per consent (default 3 '
            "an hour) and never beyond a bank's own limit of unattended access, counting the syncs already queued "
            "(rhein: 4 counted calls a day, 2 per sync): 429 `bank_limit_reached` with `Retry-After`, never a 202 "
            "for a sync the bank would refuse. Without the user present, UK and EU banks allow 4 reads per account "
            "per 24 hours of each data type (RTS Art. 36(5)): 429 `unattended_limit_reached` with `Retry-After` "
            "and the next free time in the message; `meta.unattended_access` shows what is left. A refresh made "
            "while the user is present (header `PSU-IP-Address` or `x-fapi-customer-ip-address` with the user's "
            "IP address) is not counted and not capped."
        ),
        auth=[{"oauth2": []}],
        parameters=[
            path_id("consent_id", "consent"),
            *(
                OpenApiParameter(
                    name,
                    location=OpenApiParameter.HEADER,
                    required=False,
                    description="The user's IP address: the user is present (the refresh is not counted)",
                )
                for name in USER_PRESENT_HEADERS
            ),
        ],
        request=RefreshSerializer,
        responses={
            202: envelope_schema(
                "RefreshAccepted",
                SyncRunSerializer(),
                {
                    "request_id": serializers.CharField(),
                    "sync_ids": serializers.ListField(child=serializers.UUIDField()),
                    "unattended_access": UNATTENDED_META,
                },
            ),
            **errors_schema(*COMMON_ERRORS, 400, 409, 415),
        },
        tags=["syncs"],
    )
    def post(self, request: Request, consent_id: str) -> Response:
        if parse_uuid(consent_id) != request.consent.pk:
            raise NotFound("No such consent for this token.")
        body = RefreshSerializer(data=request.data or {})  # a body, if any, must be JSON (415 otherwise)
        body.is_valid(raise_exception=True)
        psu_ip_address = _user_ip(request)
        limit = ConsentRefreshThrottle()
        if not limit.allow_request(request, self):
            self.throttled(request, limit.wait())
        try:
            runs = services.consent_refresh_request(
                consent=request.consent,
                data_types=body.validated_data.get("data_types"),
                psu_ip_address=psu_ip_address,
            )
        except Exception:
            limit.refund()
            raise
        body = self.envelope(
            request,
            syncrun_data(runs[0], runs[0].connection.institution.slug),
            sync_ids=[r.public_id for r in runs],
            unattended_access=unattended_budget_meta(connections=[r.connection for r in runs]),
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
            "`in_progress` is false, the data it brings is partly stored. `meta.unattended_access`: the unattended-"
            "access budget per data type of the sync's bank connection now (RTS Art. 36(5))."
        ),
        auth=[{"oauth2": []}],
        responses={
            200: envelope_schema(
                "SyncRunDetail",
                SyncRunSerializer(),
                {"request_id": serializers.CharField(), "unattended_access": UNATTENDED_META},
            ),
            **errors_schema(*COMMON_ERRORS),
        },
        tags=["syncs"],
    )
    def get(self, request: Request, sync_id: str) -> Response:
        run = selectors.syncrun_get_for_consent(consent=request.consent, sync_id=parse_uuid(sync_id))
        interrupted = selectors.syncrun_interrupted(run=run)
        return Response(
            self.envelope(
                request,
                syncrun_data(run, run.connection.institution.slug, interrupted=interrupted),
                unattended_access=unattended_budget_meta(connections=[run.connection]),
            )
        )
