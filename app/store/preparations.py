"""A preparation (a dataset tokenized with one tokenizer and split, datasets/<id>/<tok>-val<f>/,
where the tokenizer is a name: char, gpt2 or bpe-<vocab_size>) and its state machine; every
change of its state or lease is a function here.

    queued ──▶ running ──▶ ready      (the runs waiting for it: preparing → queued)
      ▲           │
      └── retry ──┴──▶ failed         (and so does every run waiting for it)

Changes are conditional UPDATEs (a worker's through the lease, `app.store.lease`, only while
it holds it) and return the `Followup` to send once committed; what a preparation's end does
to its runs is `app.store.runs`' to say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.store import lease
from app.store.db import get_db
from app.store.followup import Followup
from app.store.lease import Change, Held, Lease
from app.store.models import Dataset, Preparation, utcnow
from app.store.queues import PREPARE
from app.store.runs import fail_waiting_runs, promote_waiting_runs
from app.store.states import FailureReason, PrepState
from worker.engine.tokenizers.names import parse_tokenizer_name


def find_preparation(
    session: Session, *, dataset_id: int, tokenizer: str, val_fraction: float, lock: bool = False
) -> Preparation | None:
    """With `lock`, the row is read afresh and held until the caller commits: a prepare job
    ending it meanwhile waits, so its promotion sees the run the caller stores (PostgreSQL's
    read committed would otherwise let the two miss each other and leave the run preparing)."""
    query = select(Preparation).where(
        Preparation.dataset_id == dataset_id,
        Preparation.tokenizer == tokenizer,
        Preparation.val_fraction == val_fraction,
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


def prepared_meta(
    dataset: Dataset, prep: Preparation | None, *, tokenizer: str, val_fraction: float
) -> dict[str, Any]:
    """What preflight needs about the data: exact when `prep` is prepared, else (none yet, or
    failed and to be retried) estimated from the upload's figures."""
    kind, bpe_vocab = parse_tokenizer_name(tokenizer)
    if prep is not None and prep.state == PrepState.READY and prep.train_tokens is not None:
        return {
            "train_tokens": prep.train_tokens,
            "val_tokens": prep.val_tokens,
            "vocab_size": prep.vocab_size,
            "tokenizer": {"kind": kind},
        }
    if kind == "char":
        documents = dataset.documents or 1
        # a corpus of several documents has one boundary id after each
        total = (dataset.characters or 0) + (documents if documents > 1 else 0)
    else:
        # a trained BPE's count is not known before it is trained; GPT-2's is near enough
        total = dataset.gpt2_tokens if dataset.gpt2_tokens is not None else dataset.bytes // 4
    val = int(total * val_fraction)
    estimate = {"train_tokens": total - val, "val_tokens": val, "tokenizer": {"kind": kind}}
    if bpe_vocab is not None:
        estimate["vocab_size"] = bpe_vocab  # at most; a short text may learn fewer merges
    return estimate


@dataclass(frozen=True)
class PrepJob:
    """What the prepare job needs to know about its preparation."""

    dataset_id: int
    tokenizer: str
    val_fraction: float


def load_job(prep_id: int) -> PrepJob:
    with get_db().session() as session:
        prep = session.get(Preparation, prep_id)
        assert prep is not None, f"preparation {prep_id} vanished while claimed"
        return PrepJob(prep.dataset_id, prep.tokenizer, prep.val_fraction)


# --- the API's transition: the caller commits, then sends the followup ---


def request_preparation(
    session: Session, *, dataset: Dataset, tokenizer: str, val_fraction: float
) -> tuple[Preparation, Followup]:
    """The preparation for (tokenizer, split): the existing one, a failed one retried, or a
    new one; the followup wakes the prepare job when there is work to do."""
    followup = Followup()
    prep = find_preparation(
        session, dataset_id=dataset.id, tokenizer=tokenizer, val_fraction=val_fraction, lock=True
    )
    if prep is None:
        prep = Preparation(
            dataset_id=dataset.id,
            tokenizer=tokenizer,
            val_fraction=val_fraction,
            state=PrepState.QUEUED,
            progress=0.0,
            attempts=0,
        )
        session.add(prep)
        session.flush()
        followup.enqueue(PREPARE, prep.id)
        return prep, followup
    retried = session.execute(
        update(Preparation)
        .where(Preparation.id == prep.id, Preparation.state == PrepState.FAILED)
        .values(
            state=PrepState.QUEUED,
            error=None,
            progress=0.0,
            attempts=0,
            finished_at=None,
            heartbeat_at=utcnow(),
            worker_id=None,
            woken_at=utcnow(),
        )
    )
    if retried.rowcount:
        session.flush()
        session.refresh(prep)
        followup.enqueue(PREPARE, prep.id)
    return prep, followup


# --- the prepare job's side: the lease (app.store.lease) with a preparation's own writes ---


def _failed(reason: FailureReason, message: str, now: datetime) -> dict[str, Any]:
    return {"state": PrepState.FAILED, "error": message, "finished_at": now}


def _changed(session: Session, prep_id: int, change: Change) -> Followup:
    """Ready: the runs waiting for it go on the train queue; failed: they fail with it."""
    if change.state == PrepState.READY:
        return promote_waiting_runs(session, prep_id=prep_id)
    if change.state == PrepState.FAILED:
        assert change.reason is not None and change.message is not None
        return fail_waiting_runs(
            session, prep_id=prep_id, reason=change.reason, message=change.message
        )
    return Followup()


PREPARATIONS = Lease(
    name="preparations",
    model=Preparation,
    queued=PrepState.QUEUED,
    running=PrepState.RUNNING,
    wake=PREPARE,
    failed=_failed,
    queued_since=(Preparation.heartbeat_at, Preparation.created_at),
    changed=_changed,
)


def claim(prep_id: int, owner: str) -> Held:
    """queued → running, held by `owner`; not held when it is not queued (a duplicate)."""
    return lease.claim(PREPARATIONS, prep_id, owner, values={"progress": 0.0})


def heartbeat(prep_id: int, owner: str, fraction: float) -> Held:
    """Progress and heartbeat; not held when the lease is gone."""
    return lease.heartbeat(PREPARATIONS, prep_id, owner, values={"progress": fraction})


def finish(
    prep_id: int, owner: str, *, train_tokens: int, val_tokens: int, vocab_size: int, split: str
) -> Held:
    """running → ready; the runs waiting for it go on the train queue."""
    values = {
        "state": PrepState.READY,
        "progress": 1.0,
        "train_tokens": train_tokens,
        "val_tokens": val_tokens,
        "vocab_size": vocab_size,
        "split": split,
        "finished_at": utcnow(),
    }
    return lease.finish(PREPARATIONS, prep_id, owner, values=values)


def fail(prep_id: int, owner: str, reason: FailureReason, message: str) -> Held:
    """running → failed, and so does every run waiting for it."""
    return lease.fail(PREPARATIONS, prep_id, owner, reason, message)
