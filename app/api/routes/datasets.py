"""Datasets: upload (streamed; several files, archives, structured formats), server-side
import, the bundled sample, list, get, delete, prepare."""

from __future__ import annotations

import secrets
import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep
from app.api.params import DatasetId, Offset
from app.api.schemas.common import ERROR_RESPONSES, NO_NUL, GivenName, StrictBody
from app.api.schemas.datasets import (
    DEDUP,
    ON_BAD_RECORD,
    TEXT_FIELD,
    BadRecords,
    DatasetList,
    DatasetOut,
    ImportIn,
    PreparationOut,
    PrepareIn,
    chosen_tokenizer,
)
from app.api.uploads import Upload, receive_upload
from app.planning import ingest
from app.planning.import_dirs import resolve_import_path
from app.store import datasets
from app.store.db import get_db
from app.store.errors import ConflictError
from app.store.preparations import request_preparation
from app.store.settings import Settings
from app.store.states import DatasetState
from worker.engine.data.prepare import check_split

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=ERROR_RESPONSES)

SAMPLE_NAME = "tinyshakespeare.txt"


def _out(dataset_id: int) -> DatasetOut:
    with get_db().session() as session:
        return DatasetOut.model_validate(datasets.get_dataset(session, dataset_id=dataset_id))


def _store(settings: Settings, request: ingest.CorpusRequest) -> DatasetOut:
    dataset, followup = ingest.store_corpus(settings, request)
    followup.send()
    return _out(dataset.id)


class UploadOptions(StrictBody):
    """An upload's options: multipart text fields, or query parameters (a raw body). Those
    are text by nature, so "true" is read as a boolean here (not strict, unlike JSON bodies)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=False)

    name: GivenName | None = None
    text_field: str | None = TEXT_FIELD
    dedup: bool = DEDUP
    on_bad_record: BadRecords = ON_BAD_RECORD


def _upload_options(upload: Upload, query: UploadOptions) -> UploadOptions:
    """The form's text fields sent with the files win over the query; 422 naming a wrong one."""
    known = UploadOptions.model_fields
    sent = {k: v for k, v in upload.fields.items() if k in known and v != ""}
    try:
        return UploadOptions.model_validate({**query.model_dump(), **sent})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _display_name(upload: Upload, names: list[str]) -> str:
    """A folder's name when every file came from one folder, else the first file's name
    (and how many more)."""
    first = ingest.clean_name(upload.files[0].filename)
    if len(names) == 1:
        return first
    folders = {name.split("/", 1)[0] for name in names if "/" in name}
    if len(folders) == 1 and all("/" in name for name in names):
        return ingest.clean_name(folders.pop())
    return f"{first} and {len(names) - 1} more"


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
                        "properties": {
                            "file": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "minItems": 1,
                            },
                            "name": {"type": "string", "maxLength": 200, "pattern": NO_NUL},
                            "text_field": {"type": "string", "maxLength": 200},
                            "dedup": {"type": "boolean"},
                            "on_bad_record": {"type": "string", "enum": ["error", "skip"]},
                        },
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
    name: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    text_field: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    dedup: Annotated[bool, Query()] = False,
    on_bad_record: Annotated[BadRecords, Query()] = "error",
) -> DatasetOut:
    """A corpus from one or more files: multipart `file` parts (repeat the field; a file name
    may be a relative path, "docs/a.md"), or one file as the raw body with `?name=`. Plain
    text, Markdown and code are one document per file; JSONL/NDJSON, JSON arrays, CSV/TSV,
    Parquet and Arrow give one document per record (`text_field`); archives (.zip, .tar,
    .tar.gz/.tgz, .gz, .bz2, .xz, .zst) are read member by member. Options come as text fields
    of the form or as query parameters."""
    upload = await receive_upload(
        request, tmp_dir=settings.data_dir / "uploads", max_bytes=settings.max_upload_bytes
    )
    try:
        query = UploadOptions(
            name=name, text_field=text_field, dedup=dedup, on_bad_record=on_bad_record
        )
        options = _upload_options(upload, query)
        names = [
            ingest.clean_relative_name(f.filename, fallback=name or f"file-{i + 1}")
            for i, f in enumerate(upload.files)
        ]
        corpus = ingest.CorpusRequest(
            name=ingest.clean_name(options.name or _display_name(upload, names)),
            # in order of name, as a folder is read: the same files make the same corpus
            sources=sorted(
                (ingest.Source(f.path, n) for f, n in zip(upload.files, names, strict=True)),
                key=lambda source: source.name,
            ),
            options=ingest.ReadOptions(options.text_field, options.dedup, options.on_bad_record),
        )
    except BaseException:
        upload.discard()
        raise
    return await run_in_threadpool(_store, settings, corpus)


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    responses={403: ERROR_RESPONSES[422], 415: ERROR_RESPONSES[422]},
)
def import_dataset(body: ImportIn, settings: SettingsDep) -> DatasetOut:
    """A corpus too big to upload, read where it lies: a file, archive or directory under one
    of the directories the operator allows (`STUDIO_IMPORT_DIRS`; none by default: 403 saying
    how to allow some). Read as an upload is, the same formats and options; the files are
    never changed, and the corpus is a copy in the data directory."""
    path = resolve_import_path(settings, body.path)
    corpus = ingest.CorpusRequest(
        name=ingest.clean_name(body.name or path.name or str(path)),
        sources=[ingest.Source(path, body.path)],
        options=ingest.ReadOptions(body.text_field, body.dedup, body.on_bad_record),
        received=False,
        field="path",
    )
    return _store(settings, corpus)


def _create_sample(settings: Settings) -> tuple[DatasetOut, bool]:
    source = resources.files("app.sample_data").joinpath(SAMPLE_NAME)
    with get_db().session() as session:
        existing = datasets.find_ready_dataset(session, name=SAMPLE_NAME)
        if existing is not None:
            return DatasetOut.model_validate(existing), False
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    tmp = Path(uploads / f"sample-{secrets.token_hex(4)}.part")
    with source.open("rb") as src, tmp.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    # Small and known to be text: read at once whatever the inline limit.
    corpus = ingest.CorpusRequest(SAMPLE_NAME, [ingest.Source(tmp, SAMPLE_NAME)], at_once=True)
    return _store(settings, corpus), True


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
    check_split(dataset.characters, body.val_fraction)
    prep, followup = request_preparation(
        session, dataset=dataset, tokenizer=tokenizer, val_fraction=body.val_fraction
    )
    out = PreparationOut.model_validate(prep)
    session.commit()
    followup.send()
    return out
