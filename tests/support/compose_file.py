"""docker-compose.yml as data: the tests run its commands as plain processes (studio_stack)
and check it against the code (test_deploy)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


class ComposeLoader(yaml.SafeLoader):
    """YAML as compose reads it: also the `!reset` and `!override` merge tags."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return {"!tag": node.tag, "value": loader.construct_mapping(node, deep=True)}
    if isinstance(node, yaml.SequenceNode):
        return {"!tag": node.tag, "value": loader.construct_sequence(node, deep=True)}
    return {"!tag": node.tag, "value": loader.construct_scalar(node)}


for _tag in ("!reset", "!override"):
    ComposeLoader.add_constructor(_tag, _tagged)


@cache
def compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    return yaml.load((REPO / name).read_text(encoding="utf-8"), Loader=ComposeLoader)


def service_command(service: str) -> list[str]:
    """A service's command, as `nanogpt-studio` arguments."""
    command = compose()["services"][service]["command"]
    assert isinstance(command, list) and all(isinstance(a, str) for a in command), command
    return command
