"""``POST /oauth/par/`` (RFC 9126) and the metadata documents (RFC 8414, RFC 9728)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OAuthlibRequest
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from ..conf import consent_settings
from ..oauth import DATA_SCOPES
from ..oauth_errors import oauth_error_response
from .errors import OAuthProtocolError
from .keys import allowed_algorithms
from .par import par_push
from .profile import ISSUER_META, issuer_identifier

__all__ = ["AuthorizationServerMetadataView", "ProtectedResourceMetadataView", "PushedAuthorizationRequestView"]


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(sensitive_post_parameters("client_secret", "client_assertion", "code_challenge"), name="dispatch")
class PushedAuthorizationRequestView(View):
    """RFC 9126 §2: the client authenticates as at the token endpoint (the same validator: ``client_secret_basic``
    or ``_post`` for baseline clients, ``private_key_jwt`` for FAPI 2.0 ones) and pushes its authorization request;
    ``201 {"request_uri", "expires_in"}``. Errors are RFC 6749 §5.2 JSON."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.META[ISSUER_META] = issuer_identifier(request)
        core = get_oauthlib_core()
        params = {key: values[-1] for key, values in request.POST.lists()}
        body = urlencode(list(params.items()))
        oauthlib_request = OAuthlibRequest(
            request.build_absolute_uri(request.path), "POST", body, core.extract_headers(request)
        )
        validator = oauth2_settings.OAUTH2_VALIDATOR_CLASS()
        try:
            authenticated = validator.authenticate_client(oauthlib_request)
        except oauth_errors.OAuth2Error as error:
            return oauth_error_response(error.status_code, error.error, error.description or "")
        if not authenticated or oauthlib_request.client is None:
            return oauth_error_response(401, "invalid_client", "Client authentication failed.")
        for name in ("client_secret", "client_assertion", "client_assertion_type"):
            params.pop(name, None)
        try:
            request_uri, expires_in = par_push(application=oauthlib_request.client, parameters=params)
        except OAuthProtocolError as error:
            return oauth_error_response(error.status, error.error, error.description)
        response = JsonResponse({"request_uri": request_uri, "expires_in": expires_in}, status=201)
        response["Cache-Control"] = "no-store"
        return response


def _absolute(request: HttpRequest, issuer: str, name: str) -> str:
    return issuer + reverse(name)


class AuthorizationServerMetadataView(View):
    """RFC 8414 authorization server metadata, FAPI 2.0 and DPoP fields included."""

    http_method_names = ["get"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        issuer = issuer_identifier(request)
        fapi_only = bool(consent_settings.FAPI2_REQUIRED)
        auth_methods = (
            ["private_key_jwt"] if fapi_only else ["client_secret_basic", "client_secret_post", "private_key_jwt"]
        )
        algs = allowed_algorithms()
        data = {
            "issuer": issuer,
            "authorization_endpoint": _absolute(request, issuer, "consent:authorize"),
            "token_endpoint": _absolute(request, issuer, "consent:token"),
            "revocation_endpoint": _absolute(request, issuer, "consent:revoke-token"),
            "pushed_authorization_request_endpoint": _absolute(request, issuer, "consent:par"),
            "require_pushed_authorization_requests": fapi_only,
            "request_uri_parameter_supported": True,
            "request_parameter_supported": False,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes_supported": sorted([*DATA_SCOPES, "consents"]),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_signing_alg_values_supported": algs,
            "dpop_signing_alg_values_supported": algs,
            "authorization_response_iss_parameter_supported": True,
            "tls_client_certificate_bound_access_tokens": False,
        }
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        return response


class ProtectedResourceMetadataView(View):
    """RFC 9728 protected resource metadata of the data and consent API."""

    http_method_names = ["get"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        issuer = issuer_identifier(request)
        data = {
            "resource": issuer,
            "authorization_servers": [issuer],
            "scopes_supported": sorted([*DATA_SCOPES, "consents"]),
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": allowed_algorithms(),
            # Per profile: FAPI 2.0 clients' tokens are always DPoP-bound; with FAPI2_REQUIRED every client's are.
            "dpop_bound_access_tokens_required": bool(consent_settings.FAPI2_REQUIRED),
            "resource_documentation": issuer + reverse("api-docs"),
        }
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        return response
