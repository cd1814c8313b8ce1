"""The sandbox mock banks: three bank dialects served by this project, with their own OAuth servers and data.

Imports run one way, bottom to top:

* ``data/`` — deterministic bank data for an explicit moment (``data/records.py``: the frozen dataclasses, a
  leaf); no Django, no clock. ``clock.py`` — the persisted sandbox clock (its ``SandboxClock`` model included).
* ``models.py`` (OAuth clients, consents, codes, tokens; lifetimes on the clock) and ``bankdata.py``, the public
  front for the data on the sandbox clock; ``export.py`` prints it.
* ``oauth/`` (each bank's authorization server and consents), then ``banks/`` (each bank's API views) and the
  URLs on top.
"""
