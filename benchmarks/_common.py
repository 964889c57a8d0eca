"""Shared benchmark tools: a FLOP counter on forward hooks, the matmul FLOP-rate probe, peak memory, tables, JSON.

Speed is judged as a ratio to a floor measured in the same run (the machine is shared and swings by
2-3x): floor = FLOPs per frame (counted here, from the layers that actually run) / the GFLOP/s of a 2048 x 2048 fp32
matmul. FLOPs are 2 x multiply-adds of convolutions, transposed convolutions and linear layers, including the
depthwise blur; element-wise work (norms, activations, noise) is not counted, it is what the ratio exposes.
"""

from __future__ import annotations

import json
import math
import platform
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

PROBE_SIZE = 2048  # a 2048x2048 matmul: this 2-core machine's attainable fp32 rate (~180-195 GFLOP/s when idle)
PROBE_REPEATS = 5
# Layers with weights but only element-wise work (no multiply-add reductions): deliberately not counted.
ELEMENTWISE_LAYERS = frozenset({"ConstantInput", "NoiseInjection", "PixelNorm", "MinibatchStdDev"})


def _layers_module() -> Any:
    from deeplandscape_hf.networks import layers

    return layers


def _conv(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Direct convolution: every output element costs (in / groups) * kh * kw multiply-adds."""
    weight = module.weight
    return output.numel() * weight.shape[1] * weight.shape[2] * weight.shape[3]


def _blur(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Depthwise 3x3 low-pass: 9 multiply-adds per output element."""
    kernel = module.kernel
    return output.numel() * kernel.shape[1] * kernel.shape[2] * kernel.shape[3]


def _box_filtered_conv(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Strided conv whose kernel is the 3x3 weight box-filtered to 4x4 (FusedDownsample)."""
    weight = module.weight
    return output.numel() * weight.shape[1] * (weight.shape[2] + 1) * (weight.shape[3] + 1)


def _box_filtered_transposed(out_channels: Callable[[nn.Module], int]) -> Callable:
    """Transposed conv with a 4x4 kernel built from a 3x3 weight: each input element scatters out * 16 products."""

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
        weight = module.weight
        return inputs[0].numel() * out_channels(module) * (weight.shape[2] + 1) * (weight.shape[3] + 1)

    return count


def _nearest_upsample_conv(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """NearestUpsampleConv2d runs either as a 4x4 transposed conv or as upsample + 3x3 conv (its ``transposed``)."""
    if getattr(module, "transposed", True):
        return _box_filtered_transposed(lambda m: m.weight.shape[0])(module, inputs, output)
    return _conv(module, inputs, output)


def _conv_transpose(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    weight = module.weight  # (in, out / groups, kh, kw)
    return inputs[0].numel() * weight.shape[1] * weight.shape[2] * weight.shape[3]


def _linear(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    return output.numel() * module.weight.shape[1]


def default_handlers() -> dict[type, Callable[[nn.Module, tuple, torch.Tensor], int]]:
    """Multiply-add counters per module type: torch's layers plus deeplandscape_hf.networks.layers (where present)."""
    handlers: dict[type, Callable] = {
        nn.Conv2d: _conv,
        nn.ConvTranspose2d: _conv_transpose,
        nn.Linear: _linear,
    }
    layers = _layers_module()
    ours = {
        "EqualConv2d": _conv,
        "EqualLinear": _linear,
        "Blur": _blur,
        "FusedDownsample": _box_filtered_conv,
        "FusedUpsample": _box_filtered_transposed(lambda m: m.weight.shape[1]),  # weight (in, out, 3, 3)
        "NearestUpsampleConv2d": _nearest_upsample_conv,  # weight (out, in, 3, 3)
    }
    for name, handler in ours.items():
        cls = getattr(layers, name, None)
        if isinstance(cls, type):
            handlers[cls] = handler
    return handlers


class FlopCounter:
    """Count FLOPs (2 x multiply-adds) of a model's forward passes with forward hooks.

    ``with FlopCounter(model) as counter: model(x)``; then ``counter.total``, ``counter.by_type``. Modules that
    hold weights but have no handler are listed in ``counter.uncounted`` so a new layer type cannot go unnoticed.
    """

    def __init__(self, model: nn.Module, handlers: dict[type, Callable] | None = None):
        self.model = model
        self.handlers = handlers or default_handlers()
        self.by_type: dict[str, int] = defaultdict(int)
        self.uncounted: set[str] = set()
        self._hooks: list[Any] = []

    @property
    def total(self) -> int:
        return sum(self.by_type.values())

    def _hook(self, handler: Callable) -> Callable:
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            self.by_type[type(module).__name__] += 2 * int(handler(module, inputs, output))

        return record

    def __enter__(self) -> FlopCounter:
        for module in self.model.modules():
            handler = next((h for cls, h in self.handlers.items() if type(module) is cls), None)
            if handler is not None:
                self._hooks.append(module.register_forward_hook(self._hook(handler)))
            elif (
                not list(module.children())
                and type(module).__name__ not in ELEMENTWISE_LAYERS
                and any(p.dim() > 1 for p in module.parameters(recurse=False))
            ):
                self.uncounted.add(type(module).__name__)
        return self

    def __exit__(self, *exc: object) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()


def torch_flop_count(run: Callable[[], object]) -> int:
    """FLOPs of ``run()`` as torch.utils.flop_counter sees them (an independent cross-check of `FlopCounter`)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as mode:
        run()
    return int(mode.get_total_flops())


def matmul_rates(
    size: int = PROBE_SIZE, repeats: int = PROBE_REPEATS, dtype: torch.dtype = torch.float32
) -> tuple[float, float]:
    """(GFLOP/s per wall second, GFLOP per CPU second of this process) of a size x size matmul, best of ``repeats``.

    The wall rate is what the machine gives right now; the CPU-time rate (summed over threads) is steadier when other
    processes compete for the cores, and is compared with the CPU time of the measured work.
    """
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)  # warm-up: thread pool, caches
    best_wall = best_cpu = math.inf
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    flops = 2 * size**3
    return flops / best_wall / 1e9, flops / best_cpu / 1e9


def matmul_gflops(size: int = PROBE_SIZE, repeats: int = PROBE_REPEATS, dtype: torch.dtype = torch.float32) -> float:
    """Best-of-``repeats`` GFLOP/s of a size x size matmul on CPU: this machine's attainable rate right now."""
    return matmul_rates(size, repeats, dtype)[0]


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024**3 if sys.platform == "darwin" else 1024**2)


def environment() -> dict[str, Any]:
    """What the numbers depend on."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
    }


def print_table(rows: Sequence[tuple[str, str, str]], title: str) -> None:
    """Print (metric, value, note) rows as an aligned table."""
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print(f"\n{title}")
    print("-" * (sum(widths) + 6))
    for metric, value, note in rows:
        print(f"{metric:<{widths[0]}}  {value:>{widths[1]}}  {note}")
    print("-" * (sum(widths) + 6))


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
