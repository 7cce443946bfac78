"""Config files in and out: a run's config as TOML or JSON (what `nanogpt-studio train
--config` and the run form's "Load config" read back to the same run), and an uploaded config
file (ours, or nanoGPT's config/*.py, parsed and never run) read into knobs for the form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.api.deps import SessionDep
from app.api.params import RunId
from app.api.schemas.common import ERROR_RESPONSES
from app.api.schemas.configs import ConfigLoadedOut, ConfigUpload, present_loaded
from app.planning.config_exchange import MEDIA_TYPES, FileFormat, config_file, read_config
from app.store.run_queries import get_run

router = APIRouter(tags=["configs"], responses=ERROR_RESPONSES)

FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {} for media in MEDIA_TYPES.values()},
        "description": "The config file, as an attachment",
    }
}


@router.get("/runs/{run_id}/config", response_class=Response, responses=FILE_RESPONSE)
def download_config(
    run_id: RunId,
    session: SessionDep,
    file_format: Annotated[FileFormat, Query(alias="format")] = "toml",
) -> Response:
    """Every knob of the run (not the service's paths), as `run-<id>.toml` or `.json`."""
    name, text = config_file(get_run(session, run_id=run_id), file_format)
    return Response(
        text,
        media_type=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/configs/parse")
def parse_config(body: ConfigUpload) -> ConfigLoadedOut:
    """The knobs a config file sets, and the lines it holds that were not used (each with
    why); 422 naming `config` when it cannot be read, or each knob of the wrong type."""
    return present_loaded(read_config(body.text, body.filename))
