"""This aggregator's own signing key for ``private_key_jwt`` at a bank's token endpoint (RFC 7523 §2.2).

A real bank's key comes from the deployment (``AGGREGATOR_INSTITUTIONS='{"<slug>": {"client_signing_key":
{<private JWK>}}}'``). For the sandbox banks one key pair is generated on first use into
``DATA_DIR/sandbox_client_key.json`` (mode 0600, never in the repository): the adapter signs with it and the
sandbox bank verifies with its public half, so no key is committed.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

__all__ = ["CLIENT_ASSERTION_TYPE", "client_assertion", "sandbox_client_key", "sandbox_client_public_jwks"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_LIFETIME = 60


def _key_path() -> Path:
    return Path(settings.DATA_DIR) / "sandbox_client_key.json"


@lru_cache(maxsize=4)
def _load_or_create(path: str) -> dict[str, Any]:
    from joserfc.jwk import ECKey

    target = Path(path)
    if not target.is_file():
        jwk = ECKey.generate_key("P-256", auto_kid=True).as_dict(private=True)
        try:  # O_EXCL: of two processes creating it at once, one wins and the other reads its key
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(jwk))
            return jwk
        for _ in range(50):  # the other writer may not have finished
            if target.stat().st_size:
                break
            time.sleep(0.01)
    return json.loads(target.read_text())


def sandbox_client_key() -> dict[str, Any]:
    """The private JWK (ES256) the adapters use at the sandbox banks that take ``private_key_jwt``."""
    return dict(_load_or_create(str(_key_path())))


def sandbox_client_public_jwks() -> dict[str, Any]:
    from joserfc.jwk import ECKey

    return {"keys": [ECKey.import_key(sandbox_client_key()).as_dict(private=False)]}


def client_assertion(*, client_id: str, audience: str, private_jwk: dict[str, Any]) -> str:
    """A fresh, short-lived client assertion signed with ``private_jwk`` (ES256 for EC keys, PS256 for RSA)."""
    from joserfc import jwt
    from joserfc.jwk import JWKRegistry

    key = JWKRegistry.import_key(private_jwk)
    alg = {"EC": "ES256", "RSA": "PS256", "OKP": "EdDSA"}[key.key_type]
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + _ASSERTION_LIFETIME,
              "jti": secrets.token_urlsafe(24)}  # fmt: skip
    header = {"alg": alg, **({"kid": key.kid} if key.kid else {})}
    return jwt.encode(header, claims, key)
