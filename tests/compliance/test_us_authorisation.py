"""US (CFPB 12 CFR 1033): an authorisation lasts at most one year; its revocation deletes the data obtained under
it that no other live consent needs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from aggregator.models import Balance, Transaction
from consent.services import consent_revoke
from tests.factories import BalanceFactory, TransactionFactory

from .conftest import account_at, authorised

pytestmark = pytest.mark.django_db


def test_a_consent_at_a_us_bank_lasts_at_most_one_year_from_its_authorisation(user, us_bank):
    consent = authorised(user, account_at(us_bank, user), expires_at=timezone.now() + dt.timedelta(days=400))
    assert consent.expires_at == consent.authorised_at + dt.timedelta(days=365)
    consent.refresh_from_db()
    assert consent.expires_at == consent.authorised_at + dt.timedelta(days=365)


def test_a_shorter_us_consent_keeps_its_own_expiry(user, us_bank):
    wanted = timezone.now() + dt.timedelta(days=30)
    assert authorised(user, account_at(us_bank, user), expires_at=wanted).expires_at == wanted


def test_an_eu_consent_is_not_capped(user, eu_bank):
    wanted = timezone.now() + dt.timedelta(days=400)
    assert authorised(user, account_at(eu_bank, user), expires_at=wanted).expires_at == wanted


def test_revoking_a_us_consent_deletes_the_data_it_obtained(user, us_bank):
    account = account_at(us_bank, user)
    TransactionFactory(account=account, currency="EUR")
    BalanceFactory(account=account)
    consent = authorised(user, account)
    consent_revoke(consent=consent, actor_type="user", actor_user=user)
    assert not Transaction.objects.filter(account=account).exists()
    assert not Balance.objects.filter(account=account).exists()
    account.refresh_from_db()  # the account row (what was shared under which consent) stays as evidence


def test_revoking_keeps_the_data_another_live_consent_still_needs(user, us_bank):
    account = account_at(us_bank, user)
    TransactionFactory(account=account, currency="EUR")
    first = authorised(user, account)
    authorised(user, account)
    consent_revoke(consent=first, actor_type="user", actor_user=user)
    assert Transaction.objects.filter(account=account).count() == 1


def test_revoking_a_consent_at_a_uk_bank_deletes_nothing(user, uk_bank):
    account = account_at(uk_bank, user)
    TransactionFactory(account=account, currency="GBP")
    consent_revoke(consent=authorised(user, account), actor_type="user", actor_user=user)
    assert Transaction.objects.filter(account=account).count() == 1
