"""Insights: categories, counterparties, recurring streams and risk signals computed locally from synced data.

Pure engine (no database): :mod:`.taxonomy`, :mod:`.mcc`, :mod:`.normalise`, :mod:`.model`, :mod:`.engine`,
:mod:`.recurring`, :mod:`.signals`. Persistence and work: :mod:`.models`, :mod:`.services`, :mod:`.selectors`,
:mod:`.tasks`. A data-domain app: it imports the aggregator's models and ``providers``, never the API or consent.
"""
