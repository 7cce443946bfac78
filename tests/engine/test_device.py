"""Device, precision and compile choices, and the MFU peak table."""

from __future__ import annotations

import pytest
import torch

from worker.engine.device import cpu_has_native_bf16, memory_in_use, resolve_runtime
from worker.engine.errors import ConfigError


def test_auto_on_this_machine_is_cpu_without_compile() -> None:
    runtime = resolve_runtime("auto", "auto", "auto")
    assert runtime.device == "cpu" and runtime.compile is False
    assert runtime.dtype == ("bfloat16" if cpu_has_native_bf16() else "float32")
    assert runtime.peak_flops is None  # no honest CPU peak: MFU is left out
    assert runtime.device_name.startswith("CPU")


def test_bf16_choice_can_be_forced_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_CPU_BF16", "0")
    cpu_has_native_bf16.cache_clear()
    try:
        assert resolve_runtime("cpu", "auto", False).dtype == "float32"
    finally:
        monkeypatch.undo()
        cpu_has_native_bf16.cache_clear()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_asking_for_a_missing_gpu_says_so() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU") as caught:
        resolve_runtime("cuda", "auto", "auto")
    assert caught.value.field == "device"


def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(ConfigError, match="float16") as caught:
        resolve_runtime("cpu", "float16", False)
    assert caught.value.field == "dtype"


def test_cpu_memory_is_the_resident_set() -> None:
    used = memory_in_use("cpu")
    assert used is not None and used > 10_000_000
