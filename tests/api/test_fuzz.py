"""Schemathesis over /openapi.json against the real app (in process, bearer token) with every
check it has (the CLI's `--checks all`): no 5xx, status codes, content types, headers and
bodies as documented, invalid input refused, valid input taken, Allow headers on 405s.
Bounded examples and a fixed seed keep it quick and repeatable; `make fuzz` runs the long
pass."""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance
from studio_stack import TOKEN, use_environment

BEARER = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = int(os.environ.get("STUDIO_FUZZ_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def api_schema(local_env):
    from app.main import create_app
    from app.store.settings import get_settings

    use_environment(local_env)
    app = create_app(get_settings())
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, headers=BEARER)
    # Too long is refused as too large (413), which is as much a refusal as a 422.
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    # A stream follows a run until it ends, which no fuzzed run here ever does.
    return loaded.exclude(path_regex=r"/stream$")


def _integral_floats(value: object) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_integral_floats(v) for v in value.values())
    if isinstance(value, list):
        return any(_integral_floats(v) for v in value)
    return False


def valid_data_is_accepted(ctx, response, case):
    """positive_data_acceptance, less what an OpenAPI document cannot say: a refusal by the
    studio's own judgment (a 422 with a code of its own, `config`, `data`...: a tokenizer that
    takes no vocab_size, a corpus with no documents; a 415 for a file that is not text), and
    229.0 for an integer, which JSON Schema calls one and the studio's strict bodies do not."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 415:
            return None
        if response.status_code != 422:
            raise
        error = response.json()["error"]
        # our shape lists every problem; OpenAI's (under /v1) says one
        problems = error.get("errors") or [{"code": error["code"], "message": error["message"]}]
        judged = all(p["code"] != "invalid" for p in problems)
        typed = _integral_floats(case.body) and all(
            p["message"].endswith(("must be a whole number", "must be a list"))  # gpus: N | [N]
            for p in problems
        )
        if not (judged or typed):
            raise
        return None


def _all_checks() -> list:
    load_all_checks()
    checks = [c for c in CHECKS.get_all() if c is not positive_data_acceptance]
    return [c for c in checks if getattr(c, "__name__", "") != "max_response_time"]


@pytest.mark.slow
def test_no_server_errors_and_answers_match_the_schema(api_schema):
    """Every operation, each with its own examples (schemathesis' strategies, driven by
    Hypothesis directly: its pytest plugin does not run under this pytest)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 15
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)  # valid input, and not
    checks = [*_all_checks(), valid_data_is_accepted]
    for operation, mode in itertools.product(operations, modes):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case):
            case.call_and_validate(headers=BEARER, checks=checks)

        try:
            fuzz()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing invalid to send (no parameters)
