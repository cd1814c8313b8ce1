"""``python -m consent.ledger verify BASE_URL``: the name the ledger issue gives its verifier (see __main__)."""
