"""Helpers for the app tests: a tiny model folder, a free port, and the app as a subprocess.

The tiny model has the real layout of a published model (generator at the root, ``encoder/``, ``dynamics/``,
``pipeline.json``) but random weights, so `DeepLandscapePipeline.from_pretrained` loads it in well under a second
and a fast-preset animation of a few frames takes seconds on a CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_PATH = REPO_ROOT / "app.py"

TINY_W_DIM = 32
TINY_CHANNELS = [32, 32, 16, 16]


def _pipeline_json(resolution: int, fast_iterations: int | None) -> dict:
    """``pipeline.json`` for the tiny model (PipelineConfig's defaults, optionally a shorter ``fast`` preset)."""
    from deeplandscape_hf.animation.pipeline import PipelineConfig

    presets = {}
    if fast_iterations is not None:
        presets["fast"] = {"optimization_iterations": fast_iterations, "fine_tune_iterations": fast_iterations}
    return PipelineConfig(resolution=resolution, presets=presets).to_dict()


def build_tiny_model(
    folder: str | os.PathLike, resolution: int = 32, seed: int = 0, fast_iterations: int | None = 10
) -> Path:
    """Write a tiny random DeepLandscape model (G, E, A, pipeline.json) to ``folder`` and return it.

    ``fast_iterations`` shortens the ``fast`` preset (optimisation and fine-tuning iterations) through
    pipeline.json's ``presets`` overrides, so app tests take seconds; None keeps the library's fast preset.
    """
    from deeplandscape_hf import (
        DeepLandscapeEncoder,
        DeepLandscapeGenerator,
        DynamicsConfig,
        EncoderConfig,
        GeneratorConfig,
        StyleDynamicsNet,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = GeneratorConfig(
        resolution=resolution, channels=list(TINY_CHANNELS), z_dim=TINY_W_DIM, w_dim=TINY_W_DIM, mapping_layers=2
    )
    while len(config.channels) < config.num_levels:  # 64 px and up need more levels than TINY_CHANNELS lists
        config.channels.append(TINY_CHANNELS[-1])
    generator = DeepLandscapeGenerator(config)
    generator.compute_w_avg(num_samples=2048, batch_size=1024)
    generator.save_pretrained(folder)
    encoder = DeepLandscapeEncoder(
        EncoderConfig(
            backbone="resnet18",
            num_levels=config.num_levels,
            w_dim=TINY_W_DIM,
            hidden=64,
            pretrained_backbone=False,
            image_size=max(32, resolution),
        )
    )
    if hasattr(encoder, "set_output_bias"):
        encoder.set_output_bias(generator.w_avg)  # start near the mean style, like a trained encoder
    encoder.save_pretrained(folder / "encoder")
    StyleDynamicsNet(DynamicsConfig(w_dim=TINY_W_DIM)).save_pretrained(folder / "dynamics")
    (folder / "pipeline.json").write_text(json.dumps(_pipeline_json(resolution, fast_iterations), indent=2) + "\n")
    return folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local test server
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclasses.dataclass
class RunningApp:
    """An ``app.py`` subprocess and where it serves."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def running_app(
    model_dir: str | os.PathLike,
    log_dir: str | os.PathLike,
    timeout: float = 180.0,
    extra_env: dict[str, str] | None = None,
    threads: int | None = 1,
) -> Iterator[RunningApp]:
    """Start ``python app.py --model <model_dir>`` on a free port, wait until it answers, stop it afterwards."""
    port = free_port()
    log_path = Path(log_dir) / f"app_{port}.log"
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "GRADIO_TEMP_DIR": str(Path(log_dir) / "gradio_tmp"),
        "GRADIO_EXAMPLES_CACHE": str(Path(log_dir) / "examples_cache"),
        **(extra_env or {}),
    }
    env.pop("TQDM_DISABLE", None)  # the app's progress bar mirrors tqdm
    if threads is not None:  # tiny models gain nothing from threads, and OpenMP spin-waits on a busy machine
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(APP_PATH), "--model", str(model_dir)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    app = RunningApp(process, url, log_path)
    try:
        deadline = time.monotonic() + timeout
        while not _responds(url):
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with code {process.returncode}:\n{app.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"app.py did not answer on {url} within {timeout:.0f} s:\n{app.log()}")
            time.sleep(0.5)
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def load_app_module():
    """Import the repo's ``app.py`` as a module (it is not part of the package)."""
    if "app" in sys.modules and getattr(sys.modules["app"], "__file__", None) == str(APP_PATH):
        return sys.modules["app"]
    spec = importlib.util.spec_from_file_location("app", APP_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with ``count`` torch threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
