"""Datasets: upload (streamed), the bundled sample, list, get, delete, prepare."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep
from app.api.params import DatasetId, Offset
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.datasets import (
    DatasetList,
    DatasetOut,
    PreparationOut,
    PrepareIn,
    chosen_tokenizer,
)
from app.api.uploads import receive_upload
from app.store import datasets, ingest
from app.store.db import get_db
from app.store.errors import ConflictError
from app.store.preparations import request_preparation
from app.store.settings import Settings
from app.store.states import DatasetState

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=ERROR_RESPONSES)

SAMPLE_NAME = "tinyshakespeare.txt"


def _out(dataset_id: int) -> DatasetOut:
    with get_db().session() as session:
        return DatasetOut.model_validate(datasets.get_dataset(session, dataset_id=dataset_id))


def _finish(
    settings: Settings, upload_path: Path, size: int, name: str, inline: bool | None = None
) -> DatasetOut:
    dataset, followup = ingest.store_upload(
        settings, upload_path=upload_path, size=size, name=name, inline=inline
    )
    followup.send()
    return _out(dataset.id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={413: ERROR_RESPONSES[422], 415: ERROR_RESPONSES[422]},
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def upload_dataset(
    request: Request,
    settings: SettingsDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
) -> DatasetOut:
    """Upload UTF-8 text: multipart field `file`, or the raw body with `?name=`."""
    upload = await receive_upload(
        request, tmp_dir=settings.data_dir / "uploads", max_bytes=settings.max_upload_bytes
    )
    display = ingest.clean_name(name or upload.fields.get("name") or upload.filename)
    return await run_in_threadpool(_finish, settings, upload.path, upload.size, display)


def _create_sample(settings: Settings) -> tuple[DatasetOut, bool]:
    source = resources.files("app.sample_data").joinpath(SAMPLE_NAME)
    with get_db().session() as session:
        existing = datasets.find_ready_dataset(session, name=SAMPLE_NAME)
        if existing is not None:
            return DatasetOut.model_validate(existing), False
    tmp = settings.data_dir / "uploads" / "sample.part"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, tmp.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    # Small and known to be text: described at once whatever the inline limit.
    return _finish(settings, tmp, tmp.stat().st_size, SAMPLE_NAME, inline=True), True


@router.post("/sample", status_code=status.HTTP_201_CREATED)
def create_sample_dataset(settings: SettingsDep) -> DatasetOut:
    """Tiny Shakespeare (public domain), bundled with the app; the existing copy if any."""
    dataset, _created = _create_sample(settings)
    return dataset


@router.get("")
def list_datasets(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> DatasetList:
    items, total = datasets.list_datasets(session, limit=limit, offset=offset)
    return DatasetList(items=[DatasetOut.model_validate(d) for d in items], total=total)


@router.get("/{dataset_id}")
def get_dataset(dataset_id: DatasetId, session: SessionDep) -> DatasetOut:
    return DatasetOut.model_validate(datasets.get_dataset(session, dataset_id=dataset_id))


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(dataset_id: DatasetId, session: SessionDep, settings: SettingsDep) -> None:
    """Refused (409) while a run uses it; finished runs keep their checkpoints."""
    datasets.delete_dataset(session, dataset_id=dataset_id)
    session.commit()
    ingest.remove_dataset_files(settings, dataset_id)


@router.post("/{dataset_id}/prepare", status_code=status.HTTP_202_ACCEPTED)
def prepare_dataset(dataset_id: DatasetId, body: PrepareIn, session: SessionDep) -> PreparationOut:
    """Tokenize with a tokenizer and split (a job); the existing preparation when there is one.
    `bpe` trains a byte-level BPE of `vocab_size` tokens on the training split first."""
    tokenizer = chosen_tokenizer(body.tokenizer, body.vocab_size)
    dataset = datasets.get_dataset(session, dataset_id=dataset_id)
    if dataset.state == DatasetState.FAILED:
        raise ConflictError(f"dataset {dataset_id} is not usable: {dataset.error}")
    prep, followup = request_preparation(
        session, dataset=dataset, tokenizer=tokenizer, val_fraction=body.val_fraction
    )
    out = PreparationOut.model_validate(prep)
    session.commit()
    followup.send()
    return out
