"""Which device, precision and compilation a run gets, and what the device can do (for MFU)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from worker.engine.errors import ConfigError

# Peak dense tensor-core throughput in TFLOPS for bf16 (fp16 where the card has no bf16),
# from the vendors' datasheets. Matched against torch.cuda.get_device_name() by substring;
# the first match wins, so more specific names come first.
GPU_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("A6000", 155.0),
    ("RTX 4090", 165.0),
    ("RTX 4080", 97.0),
    ("RTX 3090", 71.0),
    ("RTX 3080", 60.0),
    ("V100", 125.0),
    ("T4", 65.0),
)


@dataclass(frozen=True)
class Runtime:
    """The resolved device/dtype/compile choice for one run."""

    device: str  # "cpu", "cuda", "cuda:1", "mps"
    dtype: str  # "float32" | "bfloat16" | "float16"
    compile: bool
    device_name: str
    peak_flops: float | None  # per second, for MFU; None where no honest figure exists

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """Mixed-precision context for forward passes; a no-op in float32."""
        if self.dtype == "float32" or self.device_type == "mps":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.torch_dtype)


def resolve_runtime(device: str, dtype: str, compile: bool | str) -> Runtime:
    """Turn the config's "auto" choices into concrete ones for this machine."""
    device = _resolve_device(device)
    device_type = device.split(":")[0]
    dtype = _resolve_dtype(dtype, device_type)
    if compile == "auto":
        # On CUDA compiling pays for itself within minutes. On a CPU it costs a minute of C++
        # compilation and the compiled step measured slower here (docs/benchmarks.md), so a
        # CPU run compiles only when asked to.
        compile = device_type == "cuda"
    name = _device_name(device)
    return Runtime(
        device=device,
        dtype=dtype,
        compile=bool(compile),
        device_name=name,
        peak_flops=_peak_flops(name, device_type, dtype),
    )


def _resolve_device(device: str) -> str:
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device is cuda but no CUDA GPU is available here", field="device")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device is mps but Apple's MPS is not available here", field="device")
    if kind not in ("cpu", "cuda", "mps"):
        raise ConfigError(
            f"unknown device {device!r}; use auto, cpu, cuda[:N] or mps", field="device"
        )
    return device


def _resolve_dtype(dtype: str, device_type: str) -> str:
    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise ConfigError(
            f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16", field="dtype"
        )
    if dtype != "auto":
        if dtype == "float16" and device_type == "cpu":
            raise ConfigError(
                "float16 training is not supported on a CPU; use bfloat16 or float32", field="dtype"
            )
        return dtype
    if device_type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device_type == "cpu" and cpu_has_native_bf16():
        return "bfloat16"
    return "float32"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX), so autocast pays."""
    if os.environ.get("STUDIO_CPU_BF16") in ("0", "1"):
        return os.environ["STUDIO_CPU_BF16"] == "1"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def _device_name(device: str) -> str:
    kind = device.split(":")[0]
    if kind == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    if kind == "mps":
        return "Apple MPS"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU ({line.split(':', 1)[1].strip()}, {os.cpu_count()} threads)"
    except OSError:
        pass
    return f"CPU ({os.cpu_count()} threads)"


def _peak_flops(name: str, device_type: str, dtype: str) -> float | None:
    """The device's peak for MFU. None on CPUs and unknown GPUs: no figure beats a wrong one."""
    if device_type != "cuda":
        return None
    for needle, tflops in GPU_PEAK_TFLOPS:
        if needle in name:
            # fp32 runs on the CUDA cores, at a fraction of the tensor-core peak
            return tflops * 1e12 if dtype != "float32" else None
    return None


def memory_in_use(device: str) -> int | None:
    """Peak accelerator memory of this process, or its resident set on a CPU, in bytes."""
    kind = device.split(":")[0]
    if kind == "cuda":
        return int(torch.cuda.max_memory_allocated(torch.device(device)))
    if kind == "mps":
        return int(torch.mps.current_allocated_memory())
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def attention_kernel(runtime: Runtime, block_size: int) -> Callable[[], Any]:
    """Which attention kernel the training steps use.

    On a CPU in bfloat16, PyTorch's flash-attention kernel has a slow backward pass for short
    sequences: for the tiny recipe (block 64) the plain math kernel made whole steps 1.34x
    faster, while at block 256 the two are within 3% (docs/benchmarks.md). In float32 it is
    the other way round (flash 1.1-1.25x faster at block 64), so float32 keeps flash. The
    math kernel stores the full attention matrix, so long blocks keep flash for its memory.
    """
    if runtime.device_type == "cpu" and runtime.dtype == "bfloat16" and block_size <= 256:
        return lambda: sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext


def device_rngs(runtime: Runtime) -> tuple[torch.Tensor, torch.Tensor | None]:
    """torch's CPU RNG state and, on CUDA, the device's: what dropout draws from."""
    cuda = None
    if runtime.device_type == "cuda":
        cuda = torch.cuda.get_rng_state(torch.device(runtime.device))
    return torch.get_rng_state(), cuda


def set_device_rngs(runtime: Runtime, states: tuple[torch.Tensor, torch.Tensor | None]) -> None:
    torch.set_rng_state(states[0])
    if states[1] is not None:
        torch.cuda.set_rng_state(states[1], torch.device(runtime.device))
