"""FAPI 2.0 Security Profile for TPPs on top of django-oauth-toolkit (which stays the token issuer).

* :mod:`.profile` — which TPPs are FAPI 2.0 clients (``Application.profile`` or ``FAPI2_REQUIRED``), the issuer;
* :mod:`.keys` — JOSE keys: the signing-algorithm allow-list, public keys parsed once and cached by thumbprint;
* :mod:`.replay` — one-time ``jti`` values in the shared Django cache (fail closed when it is unreachable);
* :mod:`.nonce` — stateless rotating DPoP server nonces (HMAC of the time window);
* :mod:`.jwks` — a TPP's registered keys, inline or fetched from its ``jwks_uri`` behind the SSRF guard;
* :mod:`.client_auth` — ``private_key_jwt`` client authentication (RFC 7523 §2.2, FAPI 2.0 §5.3.2.1);
* :mod:`.dpop` — DPoP proofs (RFC 9449) at the token endpoint and at the API;
* :mod:`.par` — pushed authorization requests (RFC 9126);
* :mod:`.views` — ``POST /oauth/par/`` and the RFC 8414 / RFC 9728 metadata documents.
"""
