"""The data API's bearer-token check (ConsentTokenAuthentication): DOT's rules and challenge, one query."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from consent.models import AccessToken, Consent

from .factories import AccessTokenFactory

pytestmark = pytest.mark.django_db

INVALID = 'Bearer realm="api",error="invalid_token",error_description="The access token is invalid."'
EXPIRED = 'Bearer realm="api",error="invalid_token",error_description="The access token has expired."'


def _get(path, authorization=None):  # type: ignore[no-untyped-def]
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get(path)


def _code(response):  # type: ignore[no-untyped-def]
    return response.json()["errors"][0]["code"]


def test_a_valid_token_is_checked_with_its_consent_in_one_query(token):
    with CaptureQueriesContext(connection) as queries:
        response = _get("/api/v1/accounts", f"Bearer {token.token}")
    assert response.status_code == 200
    token_queries = [q["sql"] for q in queries.captured_queries if "consent_accesstoken" in q["sql"]]
    assert len(token_queries) == 1 and "consent_consent" in token_queries[0]
    consent_queries = [q for q in queries.captured_queries if q["sql"].startswith('SELECT "consent_consent"')]
    assert consent_queries == []


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive_and_extra_spaces_are_fine(token, scheme):
    assert _get("/api/v1/accounts", f"{scheme}  {token.token} ").status_code == 200


def test_no_token_is_401_with_a_bare_challenge(consent):
    response = _get("/api/v1/accounts")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert _code(response) == "not_authenticated"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer two words"])
def test_other_schemes_and_malformed_headers_are_not_a_token(consent, header):
    response = _get("/api/v1/accounts", header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_unknown_token_is_401_invalid_token(consent):
    response = _get("/api/v1/accounts", "Bearer not-a-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID
    assert _code(response) == "token_invalid"


def test_an_expired_token_is_401_and_says_so_in_the_challenge(consent):
    token = AccessTokenFactory(consent=consent, expires=timezone.now() - dt.timedelta(seconds=1))
    response = _get("/api/v1/accounts", f"Bearer {token.token}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == EXPIRED
    assert _code(response) == "token_invalid"


def test_a_revoked_token_is_an_unknown_one(token):
    raw = token.token
    AccessToken.objects.get(pk=token.pk).revoke()
    response = _get("/api/v1/accounts", f"Bearer {raw}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID


def test_a_token_in_the_query_string_is_refused_even_with_a_header(token):
    alone = APIClient().get(f"/api/v1/accounts?access_token={token.token}")
    assert alone.status_code == 401 and _code(alone) == "not_authenticated"
    both = _get(f"/api/v1/accounts?access_token={token.token}", f"Bearer {token.token}")
    assert both.status_code == 401 and _code(both) == "token_invalid"
    assert both["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_token_restricted_to_another_resource_is_refused(consent):
    token = AccessTokenFactory(consent=consent, resource=["https://other.example/api"])
    response = _get("/api/v1/accounts", f"Bearer {token.token}")
    assert response.status_code == 401
    assert 'error_description="The access token is not valid for this resource."' in response["WWW-Authenticate"]


def test_a_token_restricted_to_this_api_is_accepted(consent):
    token = AccessTokenFactory(consent=consent, resource=["http://testserver/api/v1/accounts"])
    assert _get("/api/v1/accounts", f"Bearer {token.token}").status_code == 200


def test_an_expired_token_of_a_revoked_consent_says_consent_revoked(consent):
    token = AccessTokenFactory(consent=consent, expires=timezone.now() - dt.timedelta(seconds=1))
    Consent.objects.filter(pk=consent.pk).update(status=Consent.Status.REVOKED)
    response = _get("/api/v1/accounts", f"Bearer {token.token}")
    assert response.status_code == 401 and _code(response) == "consent_revoked"
    assert response["WWW-Authenticate"] == EXPIRED


def test_a_scope_the_token_lacks_is_403_even_if_the_consent_has_it(consent, shared_account):
    token = AccessTokenFactory(consent=consent, scope="accounts")
    assert _get("/api/v1/accounts", f"Bearer {token.token}").status_code == 200
    response = _get(f"/api/v1/accounts/{shared_account.public_id}/transactions", f"Bearer {token.token}")
    assert response.status_code == 403 and _code(response) == "permission_missing"


def test_consent_management_still_authenticates_with_dot(consent):
    token = AccessTokenFactory(consent=None, user=None, application=consent.application, scope="consents")
    assert _get("/api/v1/consents", f"Bearer {token.token}").status_code == 200
    data = _get("/api/v1/accounts", f"Bearer {token.token}")
    assert data.status_code == 403 and _code(data) == "consent_required"


def test_the_compiled_lookup_gives_the_instances_the_orm_gives_in_one_query(token, consent, django_assert_num_queries):
    from consent.api_auth import access_token_lookup

    with django_assert_num_queries(1):
        found = access_token_lookup(token.token)
        assert found.consent.pk == consent.pk
    expected = AccessToken.objects.select_related("consent").get(pk=token.pk)
    for field in AccessToken._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert AccessToken.consent.is_cached(found)
    for field in Consent._meta.concrete_fields:
        assert getattr(found.consent, field.attname) == getattr(expected.consent, field.attname), field.name
    assert found.consent.permissions == ["accounts", "balances", "transactions"]
    assert not found._state.adding and not found.consent._state.adding
    assert access_token_lookup("no-such-token") is None


def test_the_compiled_lookup_of_a_token_without_consent_caches_none(consent, django_assert_num_queries):
    from consent.api_auth import access_token_lookup

    token = AccessTokenFactory(consent=None, user=None, application=consent.application, scope="consents")
    with django_assert_num_queries(1):
        assert access_token_lookup(token.token).consent is None


def test_an_application_that_is_not_usable_cannot_use_its_tokens(token, monkeypatch):
    from consent.models import Application

    monkeypatch.setattr(Application, "is_usable", lambda self, request: False, raising=False)
    response = _get("/api/v1/accounts", f"Bearer {token.token}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID


def test_the_user_is_loaded_only_when_asked_for(token):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from consent.api_auth import ConsentTokenAuthentication

    request = Request(
        APIRequestFactory().get("/api/v1/accounts", HTTP_AUTHORIZATION=f"Bearer {token.token}"),
        authenticators=[ConsentTokenAuthentication()],
    )
    user, found = ConsentTokenAuthentication().authenticate(request)
    assert found.pk == token.pk
    assert user.pk == token.user_id and user.username == token.user.username


def test_the_openapi_generator_knows_the_token_as_the_oauth2_scheme():
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    from consent.api_auth import ConsentTokenAuthentication

    scheme = OpenApiAuthenticationExtension.get_match(ConsentTokenAuthentication())
    assert scheme is not None and scheme.name == "oauth2"
