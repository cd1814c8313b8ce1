"""One package per bank API dialect: ``adapter.py`` (normalization), ``client.py`` (the only place building that
bank's requests) and ``constants.py``."""
