"""The sandbox clock: persisted offset, immediate visibility, test helpers and the sandbox_clock command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from providers.sandbox import bankdata as bd
from providers.sandbox import clock
from providers.sandbox.models import SandboxClock
from providers.sandbox.testing import advance_clock, reset_clock

pytestmark = pytest.mark.django_db


def _close(a, b, tolerance=timedelta(seconds=5)) -> bool:
    return abs(a - b) < tolerance


def test_without_an_offset_the_sandbox_clock_is_real_utc_time():
    now = bd.sandbox_now()
    assert now.utcoffset() == timedelta(0)
    assert _close(now, timezone.now())


def test_advancing_persists_the_offset_and_is_visible_at_once():
    before = bd.sandbox_now()
    returned = bd.clock_advance(3 * 86400)
    assert SandboxClock.objects.get(pk=1).offset_seconds == 3 * 86400
    assert _close(returned, before + timedelta(days=3))
    assert _close(bd.sandbox_now(), timezone.now() + timedelta(days=3))
    bd.clock_advance(3600)
    assert SandboxClock.objects.get().offset_seconds == 3 * 86400 + 3600


@pytest.mark.django_db(transaction=True)
def test_the_process_cache_never_hides_this_process_own_changes(settings):
    settings.SANDBOX_CLOCK_CACHE_SECONDS = 60  # outside a transaction the offset is cached ...
    try:
        reset_clock()
        assert clock.clock_offset() == 0
        bd.clock_advance(7200)  # ... but our own change invalidates it
        assert clock.clock_offset() == 7200
        SandboxClock.objects.filter(pk=1).update(offset_seconds=99)  # another process's change: cached for a while
        assert clock.clock_offset() == 7200
    finally:
        reset_clock()
    assert clock.clock_offset() == 0


def test_reset_goes_back_to_real_time():
    bd.clock_advance(86400)
    bd.clock_reset()
    assert SandboxClock.objects.get().offset_seconds == 0
    assert _close(bd.sandbox_now(), timezone.now())


@pytest.mark.parametrize("bad", [0, -5])
def test_the_clock_only_moves_forward(bad):
    with pytest.raises(ValueError, match="only moves forward"):
        bd.clock_advance(bad)


def test_advance_takes_whole_seconds():
    with pytest.raises(TypeError):
        bd.clock_advance(1.5)  # type: ignore[arg-type]


def test_advance_clock_helper_moves_the_clock_and_restores_it_as_a_context_manager():
    bd.clock_advance(600)
    with advance_clock(days=1, hours=2) as now:
        assert _close(now, timezone.now() + timedelta(days=1, hours=2, seconds=600))
        assert clock.clock_offset() == 600 + 26 * 3600
    assert clock.clock_offset() == 600
    shifted = advance_clock(minutes=30)
    assert clock.clock_offset() == 600 + 1800
    assert _close(shifted.now, bd.sandbox_now())


def test_new_transactions_appear_and_pending_ones_post_as_the_clock_moves():
    """End to end through the default ``now``: after advancing, a pending item is replaced by a booked one."""
    account = pending = None
    for _ in range(30):
        for candidate in [a for b in ("albion", "liberty") for a in bd.user_accounts(b, "bob")]:
            txs = bd.account_transactions(candidate.bank, "bob", candidate.id)
            pending = next((t for t in txs if t.status == "pending"), None)
            if pending:
                account = candidate
                break
        if pending:
            break
        bd.clock_advance(86400)
    assert account is not None and pending is not None
    count_before = len(bd.account_transactions(account.bank, "bob", account.id))
    advance_clock(days=4)
    after = bd.account_transactions(account.bank, "bob", account.id)
    assert pending.id not in {t.id for t in after}
    linked = [t for t in after if t.pending_transaction_id == pending.id]
    assert len(linked) <= 1  # one booked replacement, or none when the authorisation was cancelled
    assert len(after) > count_before  # four more days of history


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3d", 259200), ("12h", 43200), ("90m", 5400), ("45s", 45), ("1d12h", 129600), ("2w", 1209600), ("60", 60)],
)
def test_durations_are_parsed(text, seconds):
    assert clock.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "3x", "d3", "1.5d", "-2h", "3 days"])
def test_bad_durations_are_refused_with_examples(text):
    with pytest.raises(ValueError, match=r"e\.g\. 3d"):
        clock.parse_duration(text)


def test_sandbox_clock_command_shows_advances_and_resets(capsys):
    call_command("sandbox_clock")
    assert "offset +0s" in capsys.readouterr().out
    call_command("sandbox_clock", advance="1d12h")
    out = capsys.readouterr().out
    assert "offset +1d 12h" in out
    assert SandboxClock.objects.get().offset_seconds == 129600
    call_command("sandbox_clock", reset=True)
    assert "offset +0s" in capsys.readouterr().out
    assert SandboxClock.objects.get().offset_seconds == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--advance", "soon"], "invalid duration"),
        (["--advance", "0h"], "positive duration"),
        (["--advance", "3d", "--reset"], "not allowed with"),
    ],
)
def test_sandbox_clock_command_rejects_bad_input_clearly(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("sandbox_clock", *args)
