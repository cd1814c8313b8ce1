"""Local demo logins on our side (``alice`` / ``alice-demo``, ``bob`` / ``bob-demo``). Local runs only.

They are the people who approve consents; at the sandbox banks they log in as the bank's own ``alice``/``bob``
with password ``sandbox``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured

__all__ = ["DEMO_USERS", "demo_users_ensure"]

DEMO_USERS = [("alice", "alice-demo"), ("bob", "bob-demo")]


def demo_users_ensure() -> list[str]:
    """Create the demo users that are missing; never touches existing accounts. Returns the names created."""
    if settings.DJANGO_ENV != "local":
        raise ImproperlyConfigured("Demo users with well-known passwords are only created when DJANGO_ENV=local.")
    user_model = get_user_model()
    created = []
    for username, password in DEMO_USERS:
        if not user_model.objects.filter(username=username).exists():
            user_model.objects.create_user(username, f"{username}@example.invalid", password)
            created.append(username)
    return created
