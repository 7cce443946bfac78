"""Every page route, one module per page family."""

from fastapi import APIRouter

from app.web.pages import compare, datasets, docs, home, login, runs, sweeps

router = APIRouter(include_in_schema=False)
for _module in (login, home, datasets, runs, compare, sweeps, docs):
    router.include_router(_module.router)
