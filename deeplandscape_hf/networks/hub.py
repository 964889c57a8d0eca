"""Hub behaviour shared by every network: strict safetensors loading, ``subfolder=``, unwrapping before saving.

``PyTorchModelHubMixin`` gives ``from_pretrained`` / ``save_pretrained`` / ``push_to_hub`` with a ``config.json``;
this module tightens it where a GAN needs it: ``config.json`` always holds the config the model was built from (also
for a model built with its defaults), loading is strict (a missing key would otherwise leave a layer at its random
initialisation without a word), pickled ``.bin`` files are never read, DDP / ``torch.compile`` wrappers are peeled
off before saving, and components can live in subfolders of one repository.

It is also the one place that decides whether a download is worth trying: ``network_reachable`` probes a host once
per process with a short timeout, so a machine without network falls back (or fails with a clear message) in seconds
instead of waiting minutes for download retries.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import re
import socket
import threading
import typing
import urllib.request
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import torch
from huggingface_hub import PyTorchModelHubMixin, constants, snapshot_download
from safetensors.torch import load_file, save_file
from torch import nn

# The small model trained by our own scripts and shipped in the package (issue: bundled default model).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"
PAPER_URL = "https://arxiv.org/abs/2008.09655"
REPO_URL = "https://github.com/deeplandscape-hf/deeplandscape-hf"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
SHARD_PATTERN = "model-*-of-*.safetensors"

HUB_METADATA: dict[str, Any] = dict(
    library_name="deeplandscape-hf",
    pipeline_tag="image-to-video",
    license="mit",
    paper_url=PAPER_URL,
    repo_url=REPO_URL,
    docs_url=REPO_URL + "#readme",
    tags=["deeplandscape", "gan", "stylegan", "landscape", "video-generation", "image-to-video"],
)

T = TypeVar("T", bound="HubModelMixin")

logger = logging.getLogger(__name__)

NETWORK_PROBE_TIMEOUT_S = 3.0  # a TCP connection to a reachable host takes well under a second, even on a poor link
PROBE_NOTICE_AFTER_S = 0.5  # a probe still waiting after this long tells the user what it is waiting for


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``/proc``), else by a set-and-restore."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def give_default_permissions(path: str | os.PathLike) -> None:
    """Give ``path`` (and, for a folder, everything in it) the mode a plain ``open`` / ``mkdir`` would: 0666 / 0777
    less the umask.

    Private temporary folders (``tempfile.mkdtemp``: 0700) and safetensors' own writer (0600) otherwise leave saved
    models readable by their owner only, so another user, a web server or a cluster job could not load them.
    """
    mask = current_umask()
    path = Path(path)
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not item.is_symlink():
            item.chmod((0o777 if item.is_dir() else 0o666) & ~mask)


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str]) -> None:
    """``safetensors.torch.save_file`` with the usual file mode (it writes 0600 whatever the umask)."""
    save_file(tensors, str(path), metadata=metadata)
    give_default_permissions(path)


class ModelNotFoundError(FileNotFoundError):
    """Raised when a model folder or hub repository cannot be found or reached."""


class IncompleteModelError(ModelNotFoundError):
    """Raised when a model's weights are there in part: shards missing, or shards of two splits mixed."""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights a step needs are not cached and cannot be fetched. The message ends with what to do
    instead; ``cause`` is what is missing and how to get it, for the warning of a fallback that already does that."""

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = message if cause is None else cause


class CheckpointMismatchError(ValueError):
    """Raised when a weights file does not fit the model built from its config."""


def unwrap_model(module: nn.Module) -> nn.Module:
    """Peel DistributedDataParallel / DataParallel (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        elif hasattr(module, "_orig_mod") and isinstance(module._orig_mod, nn.Module):
            module = module._orig_mod
        else:
            return module


def _clean_key(key: str) -> str:
    # torch.compile on a submodule puts "_orig_mod." inside keys; DDP puts "module." in front.
    key = key.replace("_orig_mod.", "")
    return key[len("module.") :] if key.startswith("module.") else key


def clean_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """State dict with wrapper prefixes removed, tensors contiguous and detached (safetensors wants that)."""
    return {_clean_key(k): v.detach().contiguous() for k, v in state_dict.items()}


def load_state_dict_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """``load_state_dict`` that names every missing, unexpected and mis-shaped key in one ``ValueError``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mis_shaped = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state_dict and state_dict[k].shape != expected[k].shape
    ]
    if missing or unexpected or mis_shaped:
        parts = [f"{source} does not match {type(model).__name__} built from its config."]
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", mis_shaped)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
                parts.append(f"{title}: {shown}")
        parts.append("Was it saved from another configuration or another version of the model?")
        raise CheckpointMismatchError("\n".join(parts))
    model.load_state_dict(state_dict, strict=True)


# ----------------------------------------------------------------------------------------------------------------------
# Is the network there?


def offline_mode() -> bool:
    """True when the user switched downloads off with HF_HUB_OFFLINE (read now, so it can change at run time)."""
    from_env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in constants.ENV_VARS_TRUE_VALUES
    return from_env or bool(constants.HF_HUB_OFFLINE)


def _first_hop(url: str) -> tuple[str, int]:
    """Host and port a download of ``url`` connects to first: the proxy configured for it, else the url's own host."""
    target = urlparse(url)
    proxy = urllib.request.getproxies().get(target.scheme)
    if proxy and not urllib.request.proxy_bypass(target.hostname or ""):
        target = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    if not target.hostname:
        raise ValueError(f"Cannot probe {url!r}: it names no host.")
    return target.hostname, target.port or (443 if target.scheme == "https" else 80)


@functools.cache
def probe_host(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout`` seconds; asked once per process.

    The connection runs in a thread because name resolution ignores socket timeouts: with a DNS server configured
    but no network behind it, resolving alone can take tens of seconds. ``probe_host.cache_clear()`` forgets answers.
    """
    answer: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    worker = threading.Thread(target=connect, name=f"probe {host}:{port}", daemon=True)
    worker.start()
    worker.join(min(PROBE_NOTICE_AFTER_S, timeout))
    if worker.is_alive():
        logger.warning(
            "Checking whether %s:%d can be reached before downloading (up to %.0f s; set HF_HUB_OFFLINE=1 to skip "
            "downloads when there is no network)...",
            host,
            port,
            timeout,
        )
        worker.join(max(0.0, timeout - PROBE_NOTICE_AFTER_S))
    return bool(answer and answer[0])  # still no answer after the timeout counts as unreachable


def network_reachable(url: str, timeout: float | None = None) -> bool:
    """Whether a download of ``url`` can start: its host (or the proxy configured for it) answers within ``timeout``
    seconds (default ``NETWORK_PROBE_TIMEOUT_S``).

    Download clients retry an unreachable host with backoff, which on a machine without network means minutes of
    silence before any fallback; callers ask this first and fall back (or explain) at once when it says no.
    """
    host, port = _first_hop(url)
    return probe_host(host, port, NETWORK_PROBE_TIMEOUT_S if timeout is None else timeout)


def hub_reachable(timeout: float | None = None) -> bool:
    """Whether the Hugging Face endpoint (``HF_ENDPOINT``, huggingface.co by default) can be reached."""
    return network_reachable(constants.ENDPOINT, timeout)


# ----------------------------------------------------------------------------------------------------------------------
# Folders and hub repositories


def resolve_model_folder(
    name_or_path: str | os.PathLike,
    subfolder: str | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> Path:
    """Local folder holding ``config.json`` / ``model.safetensors`` for a local path or hub id (+ subfolder)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        folder = path / subfolder if subfolder else path
        if not folder.is_dir():
            raise ModelNotFoundError(f"'{path}' has no subfolder '{subfolder}'.")
        return folder
    name = str(name_or_path)
    if path.exists() or name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise ModelNotFoundError(
            f"'{name}' is neither a model folder nor a hub id of the form 'org/name'. "
            "Give the folder that holds config.json and model.safetensors, or a hub repository id."
        )
    # The root's own files only (a pipeline's pipeline.json among them): in these patterns '*' also matches '/', so
    # "*.safetensors" fetched the encoder and both discriminators with every generator.
    root_files = [CONFIG_NAME, WEIGHTS_NAME, SHARD_PATTERN, "pipeline.json", "README.md"]
    patterns = [f"{subfolder}/*"] if subfolder else root_files
    cache_only = local_files_only or offline_mode()
    unreachable = not cache_only and not hub_reachable()
    if unreachable:
        logger.warning("%s cannot be reached: looking for '%s' in the local cache only.", constants.ENDPOINT, name)
    try:
        root = snapshot_download(
            repo_id=name,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            local_files_only=cache_only or unreachable,
            force_download=force_download,
            allow_patterns=patterns,
        )
    except Exception as error:  # offline, unknown repo, no permission: all end the same way for the user
        raise ModelNotFoundError(
            f"Could not get model '{name}' from the Hugging Face Hub ({type(error).__name__}). "
            f"{_why_not_downloaded(name, local_files_only, unreachable)} "
            "You can also pass a local folder saved with save_pretrained()."
        ) from error
    folder = Path(root) / subfolder if subfolder else Path(root)
    if not weight_files(folder):
        raise ModelNotFoundError(
            f"Hub repository '{name}' has no {subfolder + '/' if subfolder else ''}{WEIGHTS_NAME} (or its shards)."
        )
    return folder


def _why_not_downloaded(name: str, local_files_only: bool, unreachable: bool) -> str:
    """The user's next step when a hub model could not be fetched, by what kept it from being downloaded."""
    fetch_once = f"download it once on a machine with network (`hf download {name}`) and copy the cache over"
    if unreachable:
        return (
            f"{constants.ENDPOINT} cannot be reached (no connection within {NETWORK_PROBE_TIMEOUT_S:.0f} s) and the "
            f"model is not in the local cache. Connect to the network and retry, or {fetch_once}; set "
            "HF_HUB_OFFLINE=1 to skip the network check when you work offline."
        )
    if local_files_only or offline_mode():
        switch = "local_files_only=True" if local_files_only else "HF_HUB_OFFLINE is set"
        return f"{switch}, so only models already in the local cache can be loaded; {fetch_once}."
    return "Check the id, your network and (for private repos) `hf auth login`."


def _configs_from_dicts(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Rebuild dataclass configs that arrive from config.json as plain dicts.

    The mixin does this itself only when it can read the annotation; with ``from __future__ import annotations``
    (and ``Config | None``) it cannot, so resolve the hints here.
    """
    hints = typing.get_type_hints(cls.__init__)
    rebuilt = dict(kwargs)
    for name, value in kwargs.items():
        if not isinstance(value, dict):
            continue
        for candidate in (hints.get(name), *typing.get_args(hints.get(name))):
            if dataclasses.is_dataclass(candidate):
                known = {f.name for f in dataclasses.fields(candidate)}
                unknown = sorted(set(value) - known)
                if unknown:
                    raise CheckpointMismatchError(
                        f"config.json has unknown {name} fields {unknown} for {candidate.__name__}."
                    )
                rebuilt[name] = candidate(**value)
                break
    return rebuilt


def weight_files(folder: Path) -> list[Path]:
    """``model.safetensors``, or its shards ``model-00001-of-0000N.safetensors`` (kept under per-file size limits);
    an IncompleteModelError names the shards that are missing, or the sets when shards of two splits are mixed."""
    single = folder / WEIGHTS_NAME
    if single.is_file():
        return [single]
    shards: dict[int, dict[int, Path]] = {}
    for path in folder.glob(SHARD_PATTERN):
        match = re.fullmatch(r"model-(\d+)-of-(\d+)\.safetensors", path.name)
        if match:
            shards.setdefault(int(match.group(2)), {})[int(match.group(1))] = path
    if len(shards) > 1:
        splits = ", ".join(map(str, sorted(shards)))
        raise IncompleteModelError(
            f"'{folder}' holds weight shards of {len(shards)} different splits (into {splits} files); keep one set."
        )
    if not shards:
        return []
    ((total, found),) = shards.items()
    missing = sorted(set(range(1, total + 1)) - set(found))
    if missing:
        raise IncompleteModelError(
            f"'{folder}' lacks weight shard(s) {', '.join(map(str, missing))} of {total}: the download or copy is "
            "incomplete."
        )
    return [found[index] for index in range(1, total + 1)]


def default_model_path() -> Path:
    """The bundled default model folder; a clear error when this checkout does not have it."""
    if not weight_files(DEFAULT_MODEL_DIR):
        raise ModelNotFoundError(
            f"The bundled default model is missing from {DEFAULT_MODEL_DIR}. Reinstall deeplandscape-hf, or pass a "
            "model folder or hub id (e.g. one written by `deeplandscape convert-official` or train_accelerate.py)."
        )
    return DEFAULT_MODEL_DIR


class HubModelMixin(PyTorchModelHubMixin):
    """``PyTorchModelHubMixin`` with strict loading, ``subfolder=`` and wrapper-safe saving."""

    def __init_subclass__(cls, *, tags: list[str] | None = None, **kwargs: Any) -> None:
        # The mixin appends its own tags to the list it is given: hand it a copy, not HUB_METADATA's.
        super().__init_subclass__(tags=list(tags) if tags is not None else None, **kwargs)

    def save_pretrained(  # type: ignore[override]
        self,
        save_directory: str | os.PathLike,
        *,
        config: dict | Any | None = None,
        **kwargs: Any,
    ) -> str | None:
        """Save ``config.json``, ``model.safetensors`` and a model card (``push_to_hub=True`` also uploads them).

        Without ``config``, ``config.json`` holds the dataclass the model was built from (``self.config``). The mixin
        alone records only constructor arguments, so a model built with its defaults, ``Model()``, would be saved
        without a config and could not be loaded again. ``push_to_hub`` saves through this method too.
        """
        if config is None:
            config = self._config_to_save()
        return super().save_pretrained(save_directory, config=config, **kwargs)

    def _config_to_save(self) -> Any:
        built_from = getattr(unwrap_model(self), "config", None)  # type: ignore[arg-type]
        return built_from if dataclasses.is_dataclass(built_from) else self._hub_mixin_config

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls: type[T],
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        subfolder: str | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        force_download: bool = False,
        **model_kwargs: Any,
    ) -> T:
        """Load from a local folder or hub repository id; ``subfolder`` selects a component (e.g. ``"encoder"``)."""
        folder = resolve_model_folder(
            pretrained_model_name_or_path,
            subfolder,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            local_files_only=local_files_only,
            force_download=force_download,
        )
        config = folder / CONFIG_NAME
        if not config.is_file():
            raise ModelNotFoundError(f"'{folder}' has no {CONFIG_NAME}; was it written by save_pretrained()?")
        try:
            json.loads(config.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:  # a model has up to five config.json: say which one
            raise CheckpointMismatchError(f"'{config}' is not valid JSON ({error}); restore it.") from error
        return super().from_pretrained(str(folder), **model_kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, map_location: str = "cpu", strict: bool = True, **kwargs: Any):
        for hub_argument in ("revision", "cache_dir", "force_download", "local_files_only", "token"):
            kwargs.pop(hub_argument, None)
        files = weight_files(Path(model_id))
        if not files:
            raise ModelNotFoundError(f"'{model_id}' has no {WEIGHTS_NAME} (pickled .bin weights are never loaded).")
        model = cls._build_for_loading(**_configs_from_dicts(cls, kwargs))
        state_dict: dict[str, torch.Tensor] = {}
        for weights in files:
            try:
                state_dict.update(load_file(str(weights), device=str(map_location)))
            except Exception as error:
                raise CheckpointMismatchError(f"'{weights}' is not a readable safetensors file: {error}") from error
        load_state_dict_strict(model, state_dict, source=str(files[0].parent))
        model.eval()
        return model

    @classmethod
    def _build_for_loading(cls, **kwargs: Any):
        """Construct the module that weights are loaded into. Overridden where construction would fetch weights."""
        return cls(**kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        model = unwrap_model(self)  # type: ignore[arg-type]
        save_safetensors(clean_state_dict(model.state_dict()), save_directory / WEIGHTS_NAME, {"format": "pt"})
