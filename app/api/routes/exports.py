"""Exports: a run's checkpoint in another tool's format (Hugging Face GPT-2, bare safetensors,
nanoGPT), written by a job on the prepare queue and downloaded as one .zip."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.responses import FileResponse

from app.api.deps import SessionDep, SettingsDep
from app.api.params import MAX_ID, RunId
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.exports import ExportIn, ExportOut, present_export
from app.store import exports

router = APIRouter(prefix="/runs/{run_id}/exports", tags=["exports"], responses=ERROR_RESPONSES)

ExportId = Annotated[int, Path(ge=1, le=MAX_ID, description="An export's id")]


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def create_export(
    run_id: RunId, body: ExportIn, session: SessionDep, settings: SettingsDep
) -> ExportOut:
    """Queue an export of the run's `latest` or `best` checkpoint (even while it trains:
    checkpoints are replaced whole). 409 `no_checkpoint` when that checkpoint is not written
    yet. Watch `state` (queued → running → ready | failed); `file` is the download."""
    export, followup = exports.request_export(
        session, settings, run_id=run_id, fmt=body.format, checkpoint=body.checkpoint
    )
    session.commit()
    followup.send()
    return present_export(export)


@router.get("")
def list_exports(run_id: RunId, session: SessionDep) -> list[ExportOut]:
    """Newest first."""
    return [present_export(e) for e in exports.list_exports(session, run_id=run_id)]


@router.get("/{export_id}")
def get_export(run_id: RunId, export_id: ExportId, session: SessionDep) -> ExportOut:
    return present_export(exports.get_export(session, run_id=run_id, export_id=export_id))


@router.get(
    "/{export_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The .zip archive"}},
)
def download_export(
    run_id: RunId, export_id: ExportId, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """The archive: one folder (`run<id>-<format>/`) with the files. 409 `not_ready` until
    the export is ready, 409 `export_failed` for a failed one."""
    path = exports.ready_file(session, settings, run_id=run_id, export_id=export_id)
    export = exports.get_export(session, run_id=run_id, export_id=export_id)
    return FileResponse(path, media_type="application/zip", filename=exports.download_name(export))
