"""A train worker measures its device's speed once, in a child process, and keeps the figure
in the data directory for its next start."""

from __future__ import annotations

import json

import pytest

from worker.jobs.device_probe import probe
from worker.jobs.speed_probe import CACHE_FILE, measured_kind, with_speed


@pytest.mark.slow
def test_the_device_a_run_trains_on_is_measured_once_and_kept(tmp_path):
    devices = probe()
    measured = with_speed(devices, tmp_path)
    (device,) = [d for d in measured if "speed" in d]
    assert device == {**measured_kind(devices), "speed": device["speed"]}
    speed = device["speed"]
    assert speed["flops_per_s"] > 1e8 and 0 <= speed["overhead_s"] < 1
    kept = json.loads((tmp_path / CACHE_FILE).read_text())
    (key,) = kept
    assert key.startswith(f"{device['kind']}|{device['name']}|") and kept[key] == speed
    # the next start reads the figure kept (a measurement could not give this one)
    kept[key] = {"flops_per_s": 1.5, "overhead_s": 0.25}
    (tmp_path / CACHE_FILE).write_text(json.dumps(kept))
    again = [d for d in with_speed(devices, tmp_path) if "speed" in d]
    assert [d["speed"] for d in again] == [kept[key]]


def test_a_device_list_without_a_trainable_device_is_left_as_it_is(tmp_path):
    assert with_speed([], tmp_path) == []
    assert not (tmp_path / CACHE_FILE).exists()
