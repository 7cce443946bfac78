"""Schemathesis over /openapi.json against the real app (in process, bearer token): no 5xx,
and every answer conforms to the schema. Bounded examples and a fixed seed keep it quick and
repeatable; `make fuzz` runs the long pass."""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
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
    # A stream follows a run until it ends, which no fuzzed run here ever does.
    return loaded.exclude(path_regex=r"/stream$")


def test_no_server_errors_and_answers_match_the_schema(api_schema):
    """Every operation, each with its own examples (schemathesis' strategies, driven by
    Hypothesis directly: its pytest plugin does not run under this pytest)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 15
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)  # valid input, and not
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
            case.call_and_validate(
                headers=BEARER, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            fuzz()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing invalid to send (no parameters)
