"""A sweep's page: its trials live, the best so far, and each knob's values against the
trials' scores."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from app.api.deps import PageAccess, SessionDep
from app.api.schemas.sweeps import present_sweep
from app.store import sweeps
from app.web.templating import render

router = APIRouter(dependencies=[PageAccess])


@router.get("/sweeps/{sweep_id}")
def sweep_page(request: Request, session: SessionDep, sweep_id: int = Path(ge=1)) -> Response:
    sweep = sweeps.get_sweep(session, sweep_id=sweep_id)
    trials = sweeps.trials_of(session, sweep_id=sweep_id)
    shown = present_sweep(sweep, trials, sweeps.trial_runs(session, trials))
    return render(request, "sweep.html", active="compare", sweep=shown.model_dump(mode="json"))
