"""Numeric precision of rendering: fp32, or bf16 autocast where the hardware runs it natively.

bf16 halves memory traffic and doubles the matmul rate on CPUs with AVX-512 BF16 or AMX tiles and on recent GPUs;
elsewhere it is emulated and tens of times slower than fp32 (a warning says so), so ``"auto"`` picks it only where
the hardware has it. Autocast keeps the parameters in fp32 and runs the convolutions in bf16, while the styles
(`deeplandscape_hf.layers.EqualLinear`), the noise, activations and AdaIN statistics stay in fp32; the generator
hands back fp32 frames.
``benchmarks/bench_generate.py`` measures the PSNR of bf16 frames against fp32 ones (bound: 40 dB).

``"auto"`` resolves to fp32 for now: with the official-size 256 px generator (random weights) bf16 frames came out
at 35.5-37.8 dB PSNR against fp32, under the 40 dB bound (41.5 dB on a small test generator). ``"bfloat16"`` still runs
bf16 where asked; `AUTO_USES_BF16` turns the automatic choice on once a model is measured within the bound.

Inversion and fine-tuning always run in fp32: an optimisation that starts from the same point but rounds in bf16
ends at other latents, equally close to the photo but far from the fp32 result (18.9 dB PSNR between the two
renders on a small test generator), which fails the 40 dB bound.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import torch

from ..vocabulary import DTYPE_CHOICES

__all__ = ["AUTO_USES_BF16", "DTYPE_CHOICES", "DtypeLike", "autocast", "bf16_is_native", "frame_psnr", "resolve_dtype"]

DtypeLike = str | torch.dtype | None  # a DTYPE_CHOICES name, torch.float32 / torch.bfloat16, or None for "auto"
# Whether "auto" picks bf16 where the hardware runs it natively: off, since frames of the official-size generator
# missed the 40 dB bound against fp32 (see the module docstring).
AUTO_USES_BF16 = False
_NAMED = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


@lru_cache(maxsize=1)
def _cpu_has_native_bf16() -> bool:
    # oneDNN must have a bf16 path at all, and the cores must execute bf16 dot products natively (AMX tiles or the
    # AVX-512 BF16 extension): with AVX-512 alone, bf16 is converted in software and is no faster than fp32.
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    init_amx = getattr(torch._C._cpu, "_init_amx", None)
    if init_amx is not None and init_amx():
        return True
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and "avx512_bf16" in cpuinfo.read_text(errors="replace").split()


def bf16_is_native(device: torch.device | str) -> bool:
    """True when ``device`` runs bf16 convolutions natively (a CUDA GPU with bf16, or a CPU with AMX / AVX-512 BF16)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return _cpu_has_native_bf16()
    return False


def resolve_dtype(dtype: DtypeLike, device: torch.device | str) -> torch.dtype:
    """``"auto"`` / None -> bf16 where `bf16_is_native` and `AUTO_USES_BF16`, else fp32; named dtypes as asked."""
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif dtype is None or dtype == "auto":
        return torch.bfloat16 if AUTO_USES_BF16 and bf16_is_native(device) else torch.float32
    elif isinstance(dtype, str) and dtype.lower() in _NAMED:
        resolved = _NAMED[dtype.lower()]
    else:
        raise ValueError(f"dtype must be one of {', '.join(DTYPE_CHOICES)} (or a torch.dtype), got {dtype!r}.")
    if resolved not in (torch.float32, torch.bfloat16):
        raise ValueError(f"dtype must be float32 or bfloat16, got {resolved}.")
    return resolved


@contextlib.contextmanager
def autocast(dtype: DtypeLike, device: torch.device | str) -> Iterator[torch.dtype]:
    """Run the block in the resolved precision on ``device``; yields the dtype that runs (say it in logs / output)."""
    device = torch.device(device)
    resolved = resolve_dtype(dtype, device)
    if resolved == torch.float32:
        yield resolved
        return
    if not bf16_is_native(device):
        warnings.warn(
            f"bfloat16 was asked for on {device.type}, which has no native bf16 (on a CPU: AMX or AVX-512 BF16): "
            "it is emulated there and renders tens of times slower than float32 (a 64 px frame took 15 s instead of "
            "0.2 s on a 2-core AVX2 CPU). Use dtype 'auto' or 'float32' on this machine.",
            stacklevel=3,
        )
    with torch.autocast(device_type=device.type, dtype=resolved):
        yield resolved


def frame_psnr(frames: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB of frames in [-1, 1] (clamped, as every writer does) against reference frames; inf if equal."""
    error = (frames.float().clamp(-1, 1) - reference.float().clamp(-1, 1)).pow(2).mean().item()
    return float("inf") if error == 0 else 10 * math.log10(2.0**2 / error)
