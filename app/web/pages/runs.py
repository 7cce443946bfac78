"""The run form (new, or cloned from a run) and a run's live page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.api.deps import PageAccess, SessionDep, SettingsDep
from app.api.schemas.runs import present_presets
from app.planning.run_config import DEFAULT_PRESET, SERVICE_FIELDS, user_fields
from app.planning.waiting import live_workers
from app.store.datasets import get_dataset, list_datasets
from app.store.run_queries import get_run
from app.store.states import DatasetState
from app.web.knobs import GROUPS, advanced_groups, basic_knobs, form_groups, knob_meta
from app.web.templating import render
from app.web.views import dataset_summary, runs_json
from worker.engine.config.derived import DERIVED_KNOBS
from worker.engine.config.train_config import TrainConfig
from worker.engine.tokenizers.names import BPE_VOCAB_DEFAULT, parse_tokenizer_name

router = APIRouter(dependencies=[PageAccess])


def _defaults() -> dict[str, Any]:
    data = TrainConfig().to_dict()
    for name in (*SERVICE_FIELDS, "tags"):
        data.pop(name, None)
    return data


@router.get("/runs/new")
def new_run_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    dataset: Annotated[int | None, Query()] = None,
    from_run: Annotated[int | None, Query(alias="from")] = None,
) -> Response:
    datasets, _ = list_datasets(session, limit=500, offset=0)
    summaries = [dataset_summary(d) for d in datasets]
    presets = [p.model_dump() for p in present_presets()]
    source = None
    if from_run is not None:
        source = runs_json(session, [get_run(session, run_id=from_run)])[0]
    if source is not None:
        preset = source["preset"]
        config = {**_defaults(), **user_fields(source["config"])}
        dataset = dataset if dataset is not None else source["dataset_id"]
    else:
        preset = DEFAULT_PRESET
        config = {**_defaults(), **next(p["config"] for p in presets if p["name"] == preset)}
    ready = [d for d in summaries if d["state"] == "ready"]
    if dataset is None and ready:
        dataset = ready[0]["id"]
    groups = form_groups(SERVICE_FIELDS)
    page_data = {
        "datasets": summaries,
        "defaults": _defaults(),
        # what the API applies a config over when no preset is named
        "default_preset": DEFAULT_PRESET,
        "derived_knobs": list(DERIVED_KNOBS),
        "knobs": knob_meta(groups),
        "source": source,
        "data_dir": str(settings.data_dir),
    }
    workers = live_workers(settings)
    # the form asks for a tokenizer kind, and a vocabulary size when it is a trained BPE
    tokenizer, bpe_vocab_size = parse_tokenizer_name(source["tokenizer"] if source else "char")
    return render(
        request,
        "run_new.html",
        active="new",
        datasets=summaries,
        selected_dataset=dataset,
        presets=presets,
        preset=preset,
        config=config,
        basic=basic_knobs(),
        groups=advanced_groups(groups),
        source=source,
        tokenizer=tokenizer,
        bpe_vocab_size=bpe_vocab_size or BPE_VOCAB_DEFAULT,
        val_fraction=source["val_fraction"] if source else 0.1,
        page_data=page_data,
        # the most GPUs a live worker gives one run (None: the broker could not be read)
        largest_gpu_offer=workers.largest_gpu_offer if workers is not None else None,
        live_worker_count=workers.count if workers is not None else None,
        **_devices_fields(source),
    )


def _devices_fields(source: dict | None) -> dict[str, str]:
    """The GPUs / processes inputs, filled from the run a clone starts from."""
    devices = (source or {}).get("devices") or {}
    gpus = devices.get("indices") or devices.get("count") or ""
    return {
        "devices_gpus": ",".join(map(str, gpus)) if isinstance(gpus, list) else str(gpus or ""),
        "devices_processes": str(devices["processes"]) if devices.get("processes", 1) > 1 else "",
    }


@router.get("/runs/{run_id:int}")
def run_page(request: Request, run_id: int, session: SessionDep, settings: SettingsDep) -> Response:
    run = runs_json(session, [get_run(session, run_id=run_id)], settings)[0]
    dataset = get_dataset(session, dataset_id=run["dataset_id"]) if run["dataset_id"] else None
    datasets, _ = list_datasets(session, limit=200, offset=0)
    return render(
        request,
        "run.html",
        active="",  # a run is no nav section: the breadcrumb says where it is
        run=run,
        dataset_name=dataset.name if dataset else None,
        prompt=default_prompt(dataset.preview_documents if dataset else None),
        config_rows=_config_rows(run["config"]),
        # (id, name) of the datasets an evaluation can read
        eval_datasets=[(d.id, d.name) for d in datasets if d.state == DatasetState.READY],
    )


PROMPT_CHARS = 40


def default_prompt(documents: list[str] | None) -> str:
    """The sampling prompt a run's page starts with: the start of the first document of the
    run's own data (its first line, cut at a space to at most PROMPT_CHARS characters), so
    a model of Python source or of chat records is asked in its own kind of text; empty
    when the data is gone or has no text to start from."""
    first = next((d for d in documents or [] if d.strip()), "")
    line = first.lstrip().split("\n", 1)[0].rstrip()
    if len(line) <= PROMPT_CHARS:
        return line
    cut = line[:PROMPT_CHARS]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


def _config_rows(config: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(group title, knob name, value) in the form's order, for the run's settings panel."""
    rows = []
    for group in GROUPS:
        for knob in group.knobs:
            if knob.name in config:
                rows.append((group.title, knob.name, config[knob.name]))
    return rows
