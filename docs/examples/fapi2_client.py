#!/usr/bin/env python3
"""A FAPI 2.0 third-party app (TPP) against the aggregator: PAR, private_key_jwt and DPoP (docs/tpp-quickstart.md).

    python docs/examples/fapi2_client.py --register --user alice --password alice-demo   # headless (CI)
    python docs/examples/fapi2_client.py --register                                      # you approve in a browser

What it does, in order:

1. its keys: a signing key for ``private_key_jwt`` (``--key FILE``, or ``--register``, which generates an ES256
   key into ``$DATA_DIR/fapi2_example_key.json`` (mode 0600) and runs ``manage.py create_tpp --profile fapi2
   --jwks`` with its public half) and a separate DPoP key made fresh for this run;
2. discovery: ``/.well-known/oauth-authorization-server`` gives the issuer (the ``aud`` of every client
   assertion) and the endpoints;
3. a client-credentials token, DPoP-bound, and ``POST /api/v1/consents`` with a DPoP proof;
4. ``POST /oauth/par/`` (authenticated with a client assertion) with the whole authorization request (PKCE S256,
   ``state``, the consent id); the browser is sent to ``/oauth/authorize/?client_id=…&request_uri=…`` only;
5. the callback's ``state`` and ``iss`` are checked, the code is exchanged (client assertion + DPoP proof) for
   DPoP-bound tokens (``token_type: DPoP``), and the refresh token is used once with a proof by the same key;
6. it reads the accounts, balances and transactions with ``Authorization: DPoP <token>`` and a fresh proof per
   request (``htm``, ``htu``, ``iat``, ``jti``, ``ath``, and the server's ``nonce``).

Server nonces: a ``use_dpop_nonce`` answer carries ``DPoP-Nonce``; the client keeps the latest nonce it was sent
and retries once. Needs httpx and joserfc. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import secrets
import subprocess
import sys
import time
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry

ROOT = Path(__file__).resolve().parents[2]
SCOPES = ["accounts", "balances", "transactions"]
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _load_tpp_example() -> Any:
    """The baseline example's callback server, headless user and helpers (same directory)."""
    spec = importlib.util.spec_from_file_location("tpp_example", Path(__file__).with_name("tpp_example.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault("tpp_example", module)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


tpp_example = _load_tpp_example()
Failure = tpp_example.Failure


def log(message: str) -> None:
    print(f"[fapi2] {message}", flush=True)


def b64url_sha256(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode("ascii")).digest()).rstrip(b"=").decode()


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass
class Fapi2Client:
    """The TPP side of FAPI 2.0: client assertions, DPoP proofs, PAR, tokens and API calls.

    ``http`` is any httpx client whose ``base_url`` is the aggregator (tests pass one on a WSGI transport)."""

    http: httpx.Client
    client_id: str
    key: Any  # the private signing key of the registered JWKS (joserfc key)
    redirect_uri: str
    dpop_key: Any = field(default_factory=lambda: ECKey.generate_key("P-256"))
    alg: str = "ES256"
    nonce: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.metadata:
            response = self.http.get("/.well-known/oauth-authorization-server")
            self.metadata = tpp_example.check(response, 200)

    # --- JWTs ---------------------------------------------------------------------------------------------------
    def client_assertion(self, **overrides: Any) -> str:
        """RFC 7523 §2.2 with FAPI 2.0's rules: aud is the issuer, short-lived, a fresh jti."""
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.metadata["issuer"], "iat": now,
                  "exp": now + 60, "jti": secrets.token_urlsafe(24)}  # fmt: skip
        claims.update(overrides)
        header = {"alg": self.alg, "typ": "JWT"}
        if self.key.kid:
            header["kid"] = self.key.kid
        return jwt.encode(header, {k: v for k, v in claims.items() if v is not None}, self.key)

    def dpop_proof(
        self, method: str, url: str, access_token: str | None = None, *, signing_key: Any = None, **overrides: Any
    ) -> str:
        """RFC 9449 §4.2: typ dpop+jwt, the public jwk, htm, htu (no query), iat, jti, nonce, ath. ``overrides``
        replace claims (``None`` drops one); ``signing_key`` signs with another key than this client's DPoP key."""
        claims: dict[str, Any] = {"jti": secrets.token_urlsafe(24), "htm": method, "htu": without_query(url),
                                  "iat": int(time.time())}  # fmt: skip
        if self.nonce:
            claims["nonce"] = self.nonce
        if access_token is not None:
            claims["ath"] = b64url_sha256(access_token)
        claims.update(overrides)
        key = signing_key or self.dpop_key
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
        return jwt.encode(header, {k: v for k, v in claims.items() if v is not None}, key)

    # --- requests -------------------------------------------------------------------------------------------------
    @staticmethod
    def _wants_nonce(response: httpx.Response) -> bool:
        if response.status_code == 401:
            return 'error="use_dpop_nonce"' in response.headers.get("www-authenticate", "")
        if response.status_code == 400 and response.headers.get("content-type", "").startswith("application/json"):
            return response.json().get("error") == "use_dpop_nonce"
        return False

    def send(
        self, method: str, url: str, *, access_token: str | None = None, form: Any = None, **kwargs: Any
    ) -> httpx.Response:
        """One request with a fresh DPoP proof (and a fresh client assertion when ``form`` is a callable that
        builds the body); retried once when the server asks for its nonce."""
        absolute = url if "://" in url else str(self.http.base_url).rstrip("/") + url
        for attempt in range(2):
            headers = dict(kwargs.pop("headers", {}) or {})
            headers["DPoP"] = self.dpop_proof(method, absolute, access_token)
            if access_token is not None:
                headers["Authorization"] = f"DPoP {access_token}"
            data = form() if callable(form) else form
            response = self.http.request(method, absolute, headers=headers, data=data, **kwargs)
            if response.headers.get("dpop-nonce"):
                self.nonce = response.headers["dpop-nonce"]
            if attempt == 0 and self._wants_nonce(response):
                kwargs["headers"] = headers
                continue
            return response
        return response

    def token(self, **params: str) -> dict[str, Any]:
        def body() -> dict[str, str]:
            return {**params, "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": self.client_assertion()}  # fmt: skip

        tokens = tpp_example.check(self.send("POST", self.metadata["token_endpoint"], form=body), 200)
        if tokens.get("token_type") != "DPoP":
            raise Failure(f"expected DPoP-bound tokens, got token_type {tokens.get('token_type')!r}")
        return tokens

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.send(method, path, access_token=token or self.tokens["access_token"], **kwargs)

    # --- the flow -------------------------------------------------------------------------------------------------
    def create_consent(self, **body: Any) -> dict[str, Any]:
        app_token = self.token(grant_type="client_credentials", scope="consents")["access_token"]
        now = time.time()
        payload = {
            "permissions": SCOPES,
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 30 * 86400)),
            "transactions_from": time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(now - 365 * 86400)),
            **body,
        }
        return tpp_example.check(self.api("POST", "/api/v1/consents", app_token, json=payload), 201)["data"]

    def push_authorization_request(self, consent_id: str, scopes: list[str] = SCOPES) -> str:
        """PAR (RFC 9126): the whole authorization request goes server to server; the browser gets a reference."""
        verifier, challenge = tpp_example.pkce_pair()
        state = secrets.token_urlsafe(16)
        self.pending = {"verifier": verifier, "state": state}
        body = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                "scope": " ".join(scopes), "state": state, "code_challenge": challenge,
                "code_challenge_method": "S256", "consent_id": consent_id,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": self.client_assertion()}  # fmt: skip
        pushed = tpp_example.check(
            self.http.post(self.metadata["pushed_authorization_request_endpoint"], data=body), 201
        )
        return pushed["request_uri"]

    def authorization_url(self, request_uri: str) -> str:
        query = urlencode({"client_id": self.client_id, "request_uri": request_uri})
        return f"{self.metadata['authorization_endpoint']}?{query}"

    def exchange(self, callback: dict[str, str]) -> dict[str, Any]:
        if callback.get("error"):
            raise Failure(f"authorization refused: {callback['error']} {callback.get('error_description', '')}")
        if callback.get("state") != self.pending.get("state"):
            raise Failure("the callback's state is not ours: refusing the code")
        if callback.get("iss") != self.metadata["issuer"]:  # RFC 9207: mix-up defence
            raise Failure(f"the callback's iss {callback.get('iss')!r} is not the issuer we pushed to")
        self.tokens = self.token(grant_type="authorization_code", code=callback["code"],
                                 redirect_uri=self.redirect_uri, code_verifier=self.pending["verifier"])  # fmt: skip
        return self.tokens

    def refresh(self) -> dict[str, Any]:
        self.tokens = self.token(grant_type="refresh_token", refresh_token=self.tokens["refresh_token"])
        return self.tokens


def callback_params(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# --- the command line ---------------------------------------------------------------------------------------------
def signing_key(args: argparse.Namespace, redirect_uri: str) -> tuple[str, Any]:
    """(client_id, private key): from --client-id/--key, the earlier registration, or a new one (--register)."""
    if args.client_id and args.key:
        key = JWKRegistry.import_key(json.loads(Path(args.key).read_text()))
        return args.client_id, key
    store = tpp_example.data_dir() / "fapi2_example_key.json"
    if store.is_file():
        saved = json.loads(store.read_text())
        if saved.get("redirect_uri") == redirect_uri and saved.get("base_url") == args.base_url:
            log(f"using the app registered earlier ({store})")
            return saved["client_id"], JWKRegistry.import_key(saved["key"])
    if not args.register:
        raise Failure("no client: pass --register, or --client-id and --key (a private JWK file)")
    key = ECKey.generate_key("P-256", parameters={"use": "sig"}, auto_kid=True)
    public = tpp_example.data_dir() / "fapi2_example_jwks.json"
    public.parent.mkdir(parents=True, exist_ok=True)
    public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    log(f"registering a FAPI 2.0 app with manage.py create_tpp --profile fapi2 (redirect URI {redirect_uri})")
    result = subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [sys.executable, "manage.py", "create_tpp", "FAPI 2.0 example", "--redirect-uri", redirect_uri,
         "--profile", "fapi2", "--jwks", str(public), "--json"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise Failure(f"create_tpp failed: {result.stderr.strip()[-500:]}")
    client_id = json.loads(result.stdout)["client_id"]
    store.touch(mode=0o600)
    store.write_text(json.dumps({"client_id": client_id, "key": key.as_dict(private=True),
                                 "redirect_uri": redirect_uri, "base_url": args.base_url}))  # fmt: skip
    log(f"private key kept in {store} (mode 0600; outside git)")
    return client_id, key


def run(args: argparse.Namespace) -> None:
    base = args.base_url.rstrip("/")
    redirect_uri = f"http://127.0.0.1:{args.callback_port}/callback"
    client_id, key = signing_key(args, redirect_uri)
    with httpx.Client(base_url=base, timeout=60) as http:
        tpp = Fapi2Client(http=http, client_id=client_id, key=key, redirect_uri=redirect_uri)
        log(f"issuer {tpp.metadata['issuer']}; PAR at {tpp.metadata['pushed_authorization_request_endpoint']}")
        consent = tpp.create_consent()
        log(f"consent {consent['id']} created ({consent['status']}) with a DPoP-bound client-credentials token")
        request_uri = tpp.push_authorization_request(consent["id"])
        authorize_url = tpp.authorization_url(request_uri)
        log(f"pushed the authorization request: {request_uri}")
        with tpp_example.CallbackServer(args.callback_port) as callback:
            if args.user:
                tpp_example.HeadlessUser(args).approve(authorize_url, redirect_uri)
            else:
                log("open this URL, log in, connect a sandbox bank if asked (alice / sandbox) and approve:")
                print(f"\n    {authorize_url}\n", flush=True)
                if not args.no_browser:
                    webbrowser.open(authorize_url)
            params = callback.wait(args.timeout)
        log("callback received the code (state and iss checked); exchanging it with a client assertion + DPoP")
        tpp.exchange(params)
        tpp.refresh()
        log(f"DPoP-bound tokens rotated once; access token valid {tpp.tokens['expires_in']} s")
        accounts = tpp_example.check(tpp.api("GET", "/api/v1/accounts"), 200)["data"]
        for account in accounts:
            balances = tpp_example.check(tpp.api("GET", f"/api/v1/accounts/{account['id']}/balances"), 200)["data"]
            page = tpp_example.check(tpp.api("GET", f"/api/v1/accounts/{account['id']}/transactions"), 200)
            log(f"  {account.get('display_name') or account['id']}: {len(page['data'])} transaction(s) on the "
                f"first page, {len(balances)} balance(s)")  # fmt: skip
        log(f"{len(accounts)} account(s) read with DPoP proofs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=tpp_example.default_base_url())
    parser.add_argument("--client-id", default="")
    parser.add_argument("--key", default="", help="a file with the private JWK matching the registered JWKS")
    parser.add_argument("--register", action="store_true", help="generate a key and register a FAPI 2.0 app")
    parser.add_argument("--callback-port", type=int, default=8766)
    parser.add_argument("--user", default="", help="headless: the aggregator user to log in as (e.g. alice)")
    parser.add_argument("--password", default="alice-demo")
    parser.add_argument("--bank", default="albion")
    parser.add_argument("--bank-user", default="")
    parser.add_argument("--bank-password", default="sandbox")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    try:
        run(args)
    except (Failure, httpx.HTTPError) as exc:
        log(f"FAILED: {exc}")
        return 1
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
