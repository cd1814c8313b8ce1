from tests.consent.conftest import _fast_password_hasher, alice, alice_accounts, sandbox_banks  # noqa: F401
