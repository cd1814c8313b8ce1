"""Connecting a user's bank: the upstream OAuth redirect flow (``services``, ``views``, ``urls``), its server-side
state (``models.PendingAuthorization``) and the encrypted credentials on a connection (``credentials``).

It calls ``providers`` (adapters, registry, credential cryptography) and persists what comes back, the way
Saleor's ``payment/gateway.py`` calls a gateway and stores its answer; ``providers`` knows nothing of it.
"""
