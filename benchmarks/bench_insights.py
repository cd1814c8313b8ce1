"""Insights, measured against the sandbox generator's ground truth on a seed the model never saw.

``python -m benchmarks insights [--seed=N] [--train-seeds=K] [--no-e2e]``: trains a model on seeds 1..K (and calibrates
it on two more), then scores a fresh seed (default: derived from the clock, printed so a run can be repeated):
category accuracy and macro-F1 (primary, detailed), precision and coverage of ``high``/``very_high`` labels,
counterparty accuracy (names as the banks send them, and from the description alone), recurring streams
(precision, recall, ``predicted_next_date`` within ±3 days), anomalies (AUPRC, recall at 1 % false positives),
and enrichment throughput against the ingest rate of the same rows in the same run.

The last part needs PostgreSQL (``DATABASE_URL=postgres://…``; a ``<name>_bench_ingest`` database is created and
dropped, never the dev database): the fresh seed's accounts (with more card payments, ~20k rows) are upserted page
by page as a sync does, then ``insights_refresh_accounts`` enriches them and recomputes streams and signals; both
rates are printed, and their ratio. Then (unless ``--no-e2e``) a whole first sync over HTTP of the sandbox's
``bulk`` user and its enrichment, timed in the same run (:mod:`benchmarks.insights_sync`): the issue's
"within 1.5 times the sync without enrichment".
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import numpy as np
from sklearn.metrics import average_precision_score

from aggregator.insights.engine import enrich
from aggregator.insights.features import TxnInput
from aggregator.insights.model import fit_model
from aggregator.insights.normalise import counterparty_key
from aggregator.insights.recurring import FREQUENCIES, StreamInput, detect_streams
from aggregator.insights.signals import ANOMALY_SIGNALS, SignalInput, transaction_signals
from aggregator.insights.taxonomy import taxonomy
from aggregator.insights.training import LabelledTxn, build_directory, labelled_inputs, training_pairs
from benchmarks.insights_categories import LATER, NOW, TARGETS, categories_score, check, unseen_merchants_score
from providers.sandbox.data.catalog import bank_info
from providers.sandbox.data.labels import labelled_history, merchant_category_code, synthetic_plans


def _arg(argv: list[str], name: str, default: int) -> int:
    for a in argv:
        if a.startswith(f"--{name}="):
            return int(a.split("=", 1)[1])
    return default


def _recurring(seeds: list[int], model) -> None:  # type: ignore[no-untyped-def]
    tp = fp = fn = 0
    tp_m = fp_m = 0
    within = total_pred = 0
    # per frequency: true streams (by their true frequency), found (by the detected one), right (both agree)
    per_truth: Counter = Counter()
    per_found: Counter = Counter()
    per_right: Counter = Counter()
    per_recalled: Counter = Counter()
    for plan in (p for seed in seeds for p in synthetic_plans(seed)):
        rows = labelled_history(plan, NOW)
        if not rows:
            continue
        later = labelled_history(plan, LATER)
        enr = enrich([LabelledTxn(tx, lab, _inp(tx, plan), _inp(tx, plan)).input for tx, lab in rows], model=model)
        items = [
            StreamInput(
                tx.id,
                tx.booking_date,
                tx.amount,
                e.counterparty.key,
                e.counterparty.name,
                tx.description,
                e.detailed,
                own_account=e.counterparty.key == counterparty_key(plan.account.holder_name),
            )
            for (tx, _), e in zip(rows, enr, strict=True)
        ]
        found = detect_streams(items, today=NOW.date())
        label_of = {tx.id: lab for tx, lab in rows}
        truth = Counter(lab.stream_id for _, lab in rows if lab.stream_id)
        truth_streams = {s for s, n in truth.items() if n >= 2}
        true_frequency = {lab.stream_id: lab.frequency for _, lab in rows if lab.stream_id}
        per_truth.update(true_frequency[s] for s in truth_streams)
        matched = set()
        for s in found:
            ids = Counter(label_of[k].stream_id for k in s.transaction_keys)
            best, n = ids.most_common(1)[0]
            ok = bool(best) and n >= 0.8 * len(s.transaction_keys) and best not in matched
            per_found[s.frequency] += 1
            if ok and true_frequency.get(best) == s.frequency:
                per_right[s.frequency] += 1
                per_recalled[s.frequency] += 1
            if ok:
                matched.add(best)
                tp += 1
                nxt = min(
                    (tx.booking_date for tx, lab in later if lab.stream_id == best and tx.booking_date > s.last_date),
                    default=None,
                )
                if nxt is not None and s.is_active:
                    total_pred += 1
                    within += abs((nxt - s.predicted_next_date).days) <= 3
            else:
                fp += 1
            if s.status == "mature":
                tp_m += ok
                fp_m += not ok
        fn += len(truth_streams - matched)
    p = tp / max(1, tp + fp)
    r = tp / max(1, tp + fn)
    print("  " + check("recurring precision", p, TARGETS["recurring"]) + f"  ({tp} right, {fp} wrong)")
    print("  " + check("recurring recall", r, TARGETS["recurring"]) + f"  ({fn} true streams missed)")
    print(f"  mature streams precision: {tp_m / max(1, tp_m + fp_m):.4f}")
    print(f"  predicted_next_date within ±3 days: {within / max(1, total_pred):.4f} of {total_pred}")
    print("  per frequency (a stream counts as right only with its true frequency):")
    for frequency in FREQUENCIES:
        print(
            f"    {frequency:<13} true {per_truth[frequency]:>3}, found {per_found[frequency]:>3}: precision "
            f"{per_right[frequency] / max(1, per_found[frequency]):.4f}, recall "
            f"{per_recalled[frequency] / max(1, per_truth[frequency]):.4f}"
        )


def _inp(tx, plan):  # type: ignore[no-untyped-def]
    return TxnInput(
        tx.id,
        tx.description,
        tx.amount,
        tx.merchant_name,
        tx.counterparty_name,
        tx.bank_transaction_code,
        merchant_category_code(tx),
        bank_info(plan.account.bank)["name"],
    )


def _anomalies(seed: int, model) -> None:  # type: ignore[no-untyped-def]
    y, s = [], []
    kinds = Counter()
    hits = defaultdict(list)
    for plan in synthetic_plans(seed):
        rows = labelled_history(plan, NOW)
        if not rows:
            continue
        enr = enrich([_inp(tx, plan) for tx, _ in rows], model=model)
        items = [
            SignalInput(
                tx.id,
                tx.booked_at,
                tx.amount,
                e.counterparty.key,
                e.counterparty.type,
                e.detailed,
                is_card=tx.bank_transaction_code == "PMNT-CCRD-POSD",
            )
            for (tx, _), e in zip(rows, enr, strict=True)
        ]
        score: dict[object, float] = defaultdict(float)
        for sig in transaction_signals(items):
            if sig.kind in ANOMALY_SIGNALS:
                score[sig.key] = max(score[sig.key], sig.score)
        for tx, lab in rows:
            y.append(bool(lab.anomaly))
            s.append(score.get(tx.id, 0.0))
            if lab.anomaly:
                kinds[lab.anomaly] += 1
                hits[lab.anomaly].append(score.get(tx.id, 0.0))
    y_arr, s_arr = np.array(y), np.array(s)
    print(f"  transactions {len(y)}, injected anomalies {int(y_arr.sum())} {dict(kinds)}")
    print("  " + check("anomaly AUPRC", average_precision_score(y_arr, s_arr), TARGETS["auprc"]))
    negatives = np.sort(s_arr[~y_arr])[::-1]
    threshold = negatives[max(0, int(0.01 * len(negatives)) - 1)] if len(negatives) else 1.0
    recall = float(np.mean(s_arr[y_arr] > threshold)) if y_arr.any() else 0.0
    print(f"  recall at 1 % false-positive rate (score > {threshold:.3f}): {recall:.4f}")
    for kind, vals in sorted(hits.items()):
        print(f"    {kind}: recall at that threshold {np.mean(np.array(vals) > threshold):.3f}")


def _database(seed: int, model) -> None:  # type: ignore[no-untyped-def]
    from django.conf import settings
    from django.db import connection as db

    if db.vendor != "postgresql":
        print("  skipped: needs PostgreSQL (DATABASE_URL=postgres://…)")
        return
    import tempfile
    from pathlib import Path

    from aggregator.insights.model import save_model
    from aggregator.insights.services import insights_refresh_accounts
    from aggregator.models import Institution, SyncRun
    from aggregator.sync.accounts import accounts_upsert
    from aggregator.sync.pull import store_page
    from benchmarks.bench_ingest import PAGE, _bench_database
    from providers.base import AccountData, TransactionData
    from tests.factories import ConnectionFactory

    with _bench_database() as name, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.joblib"
        save_model(model, path)
        settings.INSIGHTS = {"MODEL_PATH": str(path)}
        plans = synthetic_plans(seed, card_rate=6.0)
        institution = Institution.objects.create(slug="bench", name="Bench", country="GB", provider="obie")
        connection = ConnectionFactory(institution=institution)
        accounts = [
            AccountData(
                provider_account_id=p.account.id,
                display_name=p.account.name,
                type=p.account.type,
                currency=p.account.currency,
                holder_name=p.account.holder_name,
            )
            for p in plans
        ]
        stored = {a.provider_account_id: a for a in accounts_upsert(connection=connection, accounts=accounts)}
        run = SyncRun.objects.create(connection=connection)
        rows = 0
        ingest = 0.0
        for plan in plans:
            items = [
                TransactionData(
                    provider_transaction_id=tx.id,
                    provider_account_id=tx.account_id,
                    status="booked",
                    booking_date=tx.booking_date,
                    booked_at=tx.booked_at,
                    amount=tx.amount,
                    currency=tx.currency,
                    description=tx.description,
                    merchant_name=tx.merchant_name,
                    counterparty_name=tx.counterparty_name,
                    bank_transaction_code=tx.bank_transaction_code,
                    merchant_category_code=merchant_category_code(tx),
                    raw={"id": tx.id},
                )
                for tx, _ in labelled_history(plan, NOW)
            ]
            account = stored[plan.account.id]
            started = time.perf_counter()
            for i in range(0, len(items), PAGE):
                page = items[i : i + PAGE]
                store_page(sync_run=run, rows=[(account.pk, t) for t in page], account_ids=[account.pk])
            ingest += time.perf_counter() - started
            rows += len(items)
        started = time.perf_counter()
        result = insights_refresh_accounts(account_ids=[a.pk for a in stored.values()], today=NOW.date())
        enrich_seconds = time.perf_counter() - started
        print(f"  database {name}: {rows:,} transactions in {len(plans)} accounts")
        print(f"  ingest (sync upsert): {rows / ingest:,.0f} transactions/s ({ingest:.2f}s)")
        print(
            f"  enrichment + streams + signals (insights_refresh_accounts): {result.enriched / enrich_seconds:,.0f} "
            f"transactions/s ({enrich_seconds:.2f}s; {result.streams} streams, {result.signals} signals)"
        )
        print(
            f"  upsert followed by the enrichment: {(ingest + enrich_seconds) / ingest:.2f}× the upsert's time "
            "(the upsert of pages already fetched, not a whole sync: see the next part)"
        )


def run(argv: list[str]) -> None:
    seed = _arg(argv, "seed", 10_000 + int(time.time()) % 90_000)
    k = _arg(argv, "train-seeds", 4)
    train_seeds, cal_seeds = list(range(1, k + 1)), [k + 1, k + 2]
    if seed in (*train_seeds, *cal_seeds):
        raise SystemExit(f"--seed={seed} is a training seed; pick another")
    print(f"taxonomy {taxonomy().version}; training seeds {train_seeds}, calibration {cal_seeds}; fresh seed {seed}")
    started = time.perf_counter()
    train = labelled_inputs(train_seeds, NOW)
    cal = labelled_inputs(cal_seeds, NOW)
    model = fit_model(
        training_pairs(train),
        training_pairs(cal),
        taxonomy_version=taxonomy().version,
        directory=build_directory(train),
    )
    print(f"trained on {len(train)} transactions (x2 renderings) in {time.perf_counter() - started:.1f}s")
    for name, seeds in (("a training seed", [1]), ("the fresh seed", [seed])):
        rows = labelled_inputs(seeds, NOW)
        print(f"categories and counterparties — {name}:")
        _, rate = categories_score(model, rows)
        print(f"  enrichment throughput: {rate:,.0f} transactions/s (pure engine)")
    print("categories — merchants the model never saw (every third card merchant held out):")
    unseen_merchants_score(seed, train, cal)
    recurring_seeds = list(range(seed, seed + 5))
    print(f"recurring streams — fresh seeds {recurring_seeds[0]}..{recurring_seeds[-1]} (streams of every frequency):")
    _recurring(recurring_seeds, model)
    print("anomalies — fresh seed:")
    _anomalies(seed, model)
    print("throughput against ingest — fresh seed, stored in PostgreSQL:")
    _database(seed, model)
    if "--no-e2e" not in argv:
        from django.db import connection as db

        print("a first sync over HTTP, then its enrichment — sandbox user 'bulk':")
        if db.vendor != "postgresql":
            print("  skipped: needs PostgreSQL (DATABASE_URL=postgres://…)")
        else:
            from benchmarks.insights_sync import sync_then_enrich

            sync_then_enrich(model)
