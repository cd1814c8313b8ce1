"""The consent resource: POST/GET/DELETE /api/v1/consents for a TPP's client-credentials token."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from consent.models import Application, Consent
from consent.services import consent_authorise
from tests.factories import ConsentFactory

pytestmark = pytest.mark.django_db


def _tpp(name: str = "Budget Buddy") -> tuple[Application, str]:
    out = io.StringIO()
    call_command("create_tpp", name, "--redirect-uri", "https://tpp.example/cb", "--json", stdout=out)
    data = json.loads(out.getvalue())
    app = Application.objects.get(client_id=data["client_id"])
    return app, data["client_secret"]


def _token(client, app: Application, secret: str, scope: str = "consents") -> dict:  # type: ignore[no-untyped-def]
    basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token/", {"grant_type": "client_credentials", "scope": scope}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    return {"status": response.status_code, **response.json()}


@pytest.fixture
def tpp(client):  # type: ignore[no-untyped-def]
    app, secret = _tpp()
    token = _token(client, app, secret)["access_token"]
    return app, {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _body(**overrides):  # type: ignore[no-untyped-def]
    body = {
        "permissions": ["accounts", "balances"],
        "expires_at": (timezone.now() + dt.timedelta(days=30)).isoformat(),
        "transactions_from": "2025-01-01T00:00:00Z",
        "transactions_to": "2025-12-31T00:00:00Z",
    }
    body.update(overrides)
    return body


def _post(client, headers, body):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/consents", data=json.dumps(body), content_type="application/json", **headers)


def test_creating_a_consent_returns_201_with_id_and_awaiting_status(client, tpp):
    app, headers = tpp
    response = _post(client, headers, _body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"data", "links", "meta"} and body["meta"]["request_id"] == response["X-Request-ID"]
    data = body["data"]
    assert data["status"] == "awaiting_authorisation" and data["permissions"] == ["accounts", "balances"]
    assert Consent.objects.get(pk=data["id"]).application == app
    assert response["Location"].endswith(f"/api/v1/consents/{data['id']}")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"permissions": ["accounts", "payments"]}, "permissions"),
        ({"permissions": []}, "permissions"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": (timezone.now() + dt.timedelta(days=91)).isoformat()}, "expires_at"),
        ({"expires_at": "not a date"}, "expires_at"),
        ({"transactions_from": "2025-06-01T00:00:00Z", "transactions_to": "2025-01-01T00:00:00Z"}, "transactions_from"),
    ],
)
def test_invalid_consent_requests_are_400_with_the_field(client, tpp, override, field):  # type: ignore[no-untyped-def]
    _, headers = tpp
    response = _post(client, headers, _body(**override))
    assert response.status_code == 400
    assert field in response.content.decode()
    assert not Consent.objects.exists()


def test_a_tpp_reads_its_consent(client, tpp):
    _, headers = tpp
    created = _post(client, headers, _body()).json()["data"]
    response = client.get(f"/api/v1/consents/{created['id']}", **headers)
    assert response.status_code == 200 and response.json()["data"]["id"] == created["id"]
    assert response.json()["links"]["self"].endswith(f"/api/v1/consents/{created['id']}")
    listed = client.get("/api/v1/consents", **headers).json()
    assert [c["id"] for c in listed["data"]] == [created["id"]]
    assert listed["links"]["next"] is None and listed["meta"]["count"] == 1


def test_a_tpp_never_sees_another_tpps_consent(client, tpp):
    _, headers = tpp
    other = ConsentFactory()
    assert client.get(f"/api/v1/consents/{other.pk}", **headers).status_code == 404
    assert client.delete(f"/api/v1/consents/{other.pk}", **headers).status_code == 404
    assert client.get("/api/v1/consents", **headers).json()["data"] == []
    other.refresh_from_db()
    assert other.status == "awaiting_authorisation"


def test_delete_revokes_the_consent_as_the_tpp(client, tpp, alice, alice_accounts):
    app, headers = tpp
    consent = consent_authorise(consent=ConsentFactory(application=app), user=alice, accounts=alice_accounts)
    assert client.delete(f"/api/v1/consents/{consent.pk}", **headers).status_code == 204
    consent.refresh_from_db()
    assert consent.status == "revoked" and consent.events.last().actor_type == "tpp"
    assert client.delete(f"/api/v1/consents/{consent.pk}", **headers).status_code == 204  # idempotent


def test_delete_of_a_rejected_consent_is_a_conflict(client, tpp):
    app, headers = tpp
    consent = ConsentFactory(application=app, status="rejected")
    assert client.delete(f"/api/v1/consents/{consent.pk}", **headers).status_code == 409


def test_the_consent_api_needs_a_token(client):
    assert client.get("/api/v1/consents").status_code == 401
    assert client.get("/api/v1/consents", HTTP_AUTHORIZATION="Bearer nope").status_code == 401


def test_client_credentials_tokens_get_only_the_consents_scope(client):
    app, secret = _tpp()
    assert _token(client, app, secret, scope="consents")["scope"] == "consents"
    refused = _token(client, app, secret, scope="consents accounts")
    assert refused["status"] == 400 and refused["error"] == "invalid_scope"
    assert _token(client, app, secret, scope="transactions")["status"] == 400


def test_client_credentials_need_the_right_secret(client):
    app, _ = _tpp()
    assert _token(client, app, "wrong")["status"] == 401


def test_a_user_token_cannot_manage_consents(client, tpp, alice, alice_accounts):
    from consent.models import AccessToken

    app, _ = tpp
    consent = consent_authorise(consent=ConsentFactory(application=app), user=alice, accounts=alice_accounts)
    AccessToken.objects.create(
        application=app, user=alice, consent=consent, token="user-token", scope="accounts",
        expires=timezone.now() + dt.timedelta(minutes=5),
    )  # fmt: skip
    response = client.get("/api/v1/consents", HTTP_AUTHORIZATION="Bearer user-token")
    assert response.status_code == 403


def test_create_tpp_prints_credentials_once_and_stores_a_hash():
    app, secret = _tpp()
    assert app.client_type == "confidential" and app.authorization_grant_type == "authorization-code"
    assert app.client_secret != secret and app.redirect_uris == "https://tpp.example/cb"


def test_create_tpp_human_output_and_webhook(capsys):  # type: ignore[no-untyped-def]
    call_command("create_tpp", "Hooked", "--redirect-uri", "https://a.example/cb", "--redirect-uri",
                 "https://b.example/cb", "--webhook-url", "https://a.example/hook")  # fmt: skip
    out = capsys.readouterr().out
    assert "client_id:" in out and "client_secret:" in out and "webhook_secret:" in out
    app = Application.objects.get(name="Hooked")
    assert app.redirect_uris.split() == ["https://a.example/cb", "https://b.example/cb"] and app.webhook_secret


def test_create_tpp_refuses_http_redirects_outside_local(settings):  # type: ignore[no-untyped-def]
    settings.DJANGO_ENV = "production"
    with pytest.raises(CommandError, match="https"):
        call_command("create_tpp", "Insecure", "--redirect-uri", "http://tpp.example/cb")
    assert not Application.objects.filter(name="Insecure").exists()


def test_create_tpp_refuses_wildcards():
    with pytest.raises(CommandError):
        call_command("create_tpp", "Wild", "--redirect-uri", "https://*.example/cb")


def test_consent_management_is_throttled_per_tpp(client, tpp, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "consents": "3/min"},
    }
    _, headers = tpp
    statuses = [
        _post(client, headers, _body()).status_code,
        client.get("/api/v1/consents", **headers).status_code,
        client.delete(f"/api/v1/consents/{ConsentFactory().pk}", **headers).status_code,
    ]
    assert statuses == [201, 200, 404]
    for response in (
        _post(client, headers, _body()),
        client.get("/api/v1/consents", **headers),
        client.delete(f"/api/v1/consents/{ConsentFactory().pk}", **headers),
    ):
        assert response.status_code == 429 and response.json()["errors"][0]["code"] == "throttled"
        assert 0 < int(response["Retry-After"]) <= 60
    other_app, secret = _tpp("Other App")
    other = {"HTTP_AUTHORIZATION": f"Bearer {_token(client, other_app, secret)['access_token']}"}
    assert _post(client, other, _body()).status_code == 201  # another TPP has its own allowance


def test_consent_management_has_a_default_limit_per_tpp(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["consents"] == "120/min"
