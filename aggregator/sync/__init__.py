"""The sync engine: pull a connection's data from its bank adapter into the normalized model.

``services`` holds the entry points (``connection_sync``, ``sync_request``); ``accounts`` the account list; ``upsert``
the bulk writers; ``locks`` the one-sync-per-connection lock; ``dispatch`` the scheduler's dispatcher.
"""
