"""Training checkpoints without pickles: safetensors for tensors, JSON for everything else, written atomically.

Layout of one checkpoint (``<root>/checkpoint-<iteration>``, diffusers naming)::

    training_state.json          counters, the training config (to refuse a resume under another config), format,
                                 and the size and SHA-256 of every other file (to tell a damaged checkpoint)
    <name>.safetensors + .json   one pair per saved state: model weights, EMA, optimizer states, GradScaler
    rng_rank<k>.safetensors/.json  random states of process k (python, numpy, torch, CUDA, the trainer's generators)

Any nested state (an optimizer ``state_dict`` with int keys and tuples, ``random.getstate()``) is split by
:func:`flatten_state` into named tensors and a JSON skeleton that points at them, and rebuilt exactly by
:func:`unflatten_state`. A checkpoint is written into a hidden temporary folder and renamed into place only once
complete, so a crash mid-save never damages the last good checkpoint; old ones are pruned only after the new one is
in place and has verified (:func:`verify_checkpoint`: every recorded file present, safetensors headers consistent
with the file sizes, checksums equal), and ``latest`` skips checkpoints that do not verify.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from ..networks.hub import save_safetensors

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
STATE_FILE = "training_state.json"
FORMAT_VERSION = 1
FILES_KEY = "files"  # in the state: {file name: {"bytes": size, "sha256": hex digest}}
_CHECKPOINT_RE = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, incomplete, or from another configuration."""


# --------------------------------------------------------------------------------------------------- flattening
def flatten_state(state: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """Split ``state`` into ``(tensors, skeleton)``: every tensor gets a path name; the skeleton is JSON-plain.

    Tuples, dicts with non-string keys and numpy arrays are tagged so :func:`unflatten_state` restores their types.
    """
    tensors: dict[str, torch.Tensor] = {}

    def encode(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[path] = value.detach().cpu().contiguous()
            return {"__tensor__": path}
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value)
            if array.dtype.kind == "u" and array.dtype.itemsize > 1:
                array = array.astype(np.int64)  # safetensors/torch lack wide unsigned ints (numpy's MT19937 key)
            tensors[path] = torch.from_numpy(array.copy())
            return {"__ndarray__": path, "dtype": str(value.dtype)}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, tuple):
            return {"__tuple__": [encode(item, f"{path}.{i}") for i, item in enumerate(value)]}
        if isinstance(value, list):
            return [encode(item, f"{path}.{i}") for i, item in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(key, str) and not key.startswith("__") for key in value):
                return {key: encode(item, f"{path}.{key}") for key, item in value.items()}
            return {
                "__items__": [
                    [encode(k, f"{path}.k{i}"), encode(v, f"{path}.{i}")] for i, (k, v) in enumerate(value.items())
                ]
            }
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot store a {type(value).__name__} at '{path}' in a checkpoint (no pickles).")

    skeleton = encode(state, "s")
    return tensors, skeleton


def unflatten_state(tensors: dict[str, torch.Tensor], skeleton: Any) -> Any:
    """Inverse of :func:`flatten_state`."""

    def decode(value: Any) -> Any:
        if isinstance(value, list):
            return [decode(item) for item in value]
        if isinstance(value, dict):
            if "__tensor__" in value:
                return tensors[value["__tensor__"]]
            if "__ndarray__" in value:
                return tensors[value["__ndarray__"]].numpy().astype(value["dtype"])
            if "__tuple__" in value:
                return tuple(decode(item) for item in value["__tuple__"])
            if "__items__" in value:
                return {_hashable(decode(k)): decode(v) for k, v in value["__items__"]}
            return {key: decode(item) for key, item in value.items()}
        return value

    return decode(skeleton)


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def save_state_files(folder: str | os.PathLike, name: str, state: Any) -> None:
    """Write ``state`` as ``<name>.safetensors`` (tensors) + ``<name>.json`` (the rest) in ``folder``."""
    folder = Path(folder)
    tensors, skeleton = flatten_state(state)
    save_safetensors(tensors, folder / f"{name}.safetensors", {"format": "pt"})
    (folder / f"{name}.json").write_text(json.dumps(skeleton, indent=1))


def load_state_files(folder: str | os.PathLike, name: str) -> Any:
    """Read what :func:`save_state_files` wrote."""
    folder = Path(folder)
    tensor_file, json_file = folder / f"{name}.safetensors", folder / f"{name}.json"
    if not tensor_file.is_file() or not json_file.is_file():
        raise CheckpointError(f"checkpoint '{folder}' lacks {name}.safetensors / {name}.json (incomplete or damaged).")
    return unflatten_state(load_file(str(tensor_file)), json.loads(json_file.read_text()))


def save_weights(folder: str | os.PathLike, name: str, state_dict: dict[str, torch.Tensor]) -> None:
    """A module's flat ``state_dict`` as ``<name>.safetensors``."""
    tensors = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
    save_safetensors(tensors, Path(folder) / f"{name}.safetensors", {"format": "pt"})


def load_weights(folder: str | os.PathLike, name: str) -> dict[str, torch.Tensor]:
    path = Path(folder) / f"{name}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{folder}' lacks {path.name} (incomplete or damaged).")
    return load_file(str(path))


# --------------------------------------------------------------------------------------------------- randomness
def capture_rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Random states of python, numpy, torch (CPU and every CUDA device) and the given named generators."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "generators": {name: gen.get_state() for name, gen in (generators or {}).items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    """Put back what :func:`capture_rng_state` returned; every named generator must be in the state."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # Saved for every GPU the process saw; a machine that shows fewer gets the states of those it has (each
        # process draws on its own device only).
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)
    saved = state.get("generators", {})
    for name, gen in (generators or {}).items():
        if name not in saved:
            raise CheckpointError(f"the checkpoint has no state for random generator '{name}'.")
        gen.set_state(saved[name])


# --------------------------------------------------------------------------------------------------- folders
def checkpoint_iteration(path: str | os.PathLike) -> int | None:
    """The iteration number in a ``checkpoint-<n>`` folder name, else None."""
    match = _CHECKPOINT_RE.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first (temporary folders are ignored)."""
    return [path for path in _checkpoint_folders(root) if (path / STATE_FILE).is_file()]


def _checkpoint_folders(root: str | os.PathLike) -> list[Path]:
    """Every ``checkpoint-<n>`` folder under ``root``, complete or not, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [path for path in root.iterdir() if path.is_dir() and checkpoint_iteration(path) is not None]
    return sorted(found, key=lambda path: checkpoint_iteration(path) or 0)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under ``root``, verified or not (see :func:`latest_verified_checkpoint`)."""
    found = list_checkpoints(root)
    return found[-1] if found else None


def latest_verified_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest checkpoint under ``root`` that verifies; each damaged newer one is skipped with a warning.

    None when there is no checkpoint at all; :class:`CheckpointError` when there are some but none verifies (a
    fresh start would silently throw their training away).
    """
    damaged = []
    for path in reversed(_checkpoint_folders(root)):  # folders without a state file too: they get a warning
        problems = verify_checkpoint(path)
        if not problems:
            return path
        logger.warning("skipping damaged checkpoint %s: %s", path, "; ".join(problems))
        damaged.append(f"{path.name}: {'; '.join(problems)}")
    if damaged:
        raise CheckpointError(
            f"no checkpoint under '{root}' verifies:\n  " + "\n  ".join(damaged) + "\nMove them aside to start afresh."
        )
    return None


def resolve_resume_path(root: str | os.PathLike, value: str | None) -> Path | None:
    """``--resume_from_checkpoint``: None -> None; ``latest`` -> the newest verified one under ``root`` or None;
    else that folder, which must verify."""
    if not value:
        return None
    if value == "latest":
        return latest_verified_checkpoint(root)
    path = Path(value).expanduser()
    if not path.is_dir():
        raise CheckpointError(
            f"--resume_from_checkpoint '{value}' does not exist (give a checkpoint-<n> folder or 'latest')."
        )
    problems = verify_checkpoint(path)
    if problems:
        raise CheckpointError(
            f"checkpoint '{path}' is damaged: {'; '.join(problems)}. Resume from an earlier checkpoint-<n> folder, "
            "or pass 'latest' to take the newest one that verifies."
        )
    return path


def temporary_checkpoint_dir(root: str | os.PathLike, iteration: int) -> Path:
    """A fresh hidden folder beside the final one, to fill before :func:`commit_checkpoint`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{CHECKPOINT_PREFIX}{iteration}"
    if tmp.exists():
        shutil.rmtree(tmp)  # left by a crash during an earlier save of the same iteration
    tmp.mkdir()
    return tmp


def write_training_state(folder: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``training_state.json`` last: it records the size and SHA-256 of every file already in ``folder``."""
    folder = Path(folder)
    files = {path.name: _file_record(path) for path in sorted(folder.iterdir()) if path.name != STATE_FILE}
    payload = {"format_version": FORMAT_VERSION, **state, FILES_KEY: files}
    (folder / STATE_FILE).write_text(json.dumps(payload, indent=1, sort_keys=True))


def read_training_state(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"'{folder}' is not a complete training checkpoint (no {STATE_FILE}).")
    state = json.loads(path.read_text())
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"'{folder}' has checkpoint format {state.get('format_version')}, expected {FORMAT_VERSION}."
        )
    return state


def commit_checkpoint(tmp: str | os.PathLike, total_limit: int | None = None) -> Path:
    """Rename a filled temporary folder to ``checkpoint-<n>`` atomically, then prune to ``total_limit`` newest.

    An existing folder of the same name (a re-save of the same iteration) is moved aside first and deleted only
    after the rename, so some complete copy exists at every moment. Nothing is pruned unless the new checkpoint
    verifies once in place, so a bad write never costs the older good ones. The checksums were just computed from
    the files on disk (:func:`write_training_state`), so this check reads only sizes and safetensors headers.
    """
    tmp = Path(tmp)
    if not (tmp / STATE_FILE).is_file():
        raise CheckpointError(f"refusing to commit '{tmp}': {STATE_FILE} missing (write it last).")
    final = tmp.parent / tmp.name.removeprefix(".tmp-")
    # On disk before the rename: after a power cut the renamed folder must not hold files the OS had not written
    # yet while the pruning of the older checkpoints had reached the disk.
    for path in tmp.iterdir():
        _fsync(path)
    _fsync(tmp)
    old = None
    if final.exists():
        old = final.parent / f".old-{final.name}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync(final.parent)
    problems = verify_checkpoint(final, checksums=False)
    if problems:
        kept = f", and the copy it replaced is in {old}" if old is not None else ""
        logger.error(
            "checkpoint %s did not verify after saving (%s); older checkpoints are kept%s", final, problems, kept
        )
        return final
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    if total_limit is not None and total_limit > 0:
        for stale in list_checkpoints(final.parent)[:-total_limit]:
            if stale != final:
                logger.info("removing old checkpoint %s (checkpoints_total_limit=%d)", stale, total_limit)
                shutil.rmtree(stale, ignore_errors=True)
    return final


def _fsync(path: Path) -> None:
    """Flush a file or a folder's entries to disk, where the file system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tidy_checkpoints(root: str | os.PathLike, resume: str | os.PathLike | None) -> list[Path]:
    """Before a run saves into ``root``: delete the half-written folders of crashed saves, and move the checkpoints
    numbered past ``resume`` (None: a fresh start, from 0) out of the way; returns where those went.

    A run resumed from an earlier checkpoint abandons the later ones. Left in place, they would stay the highest
    numbers: ``latest`` would go back to them and the pruning, which keeps the highest, would delete this run's own
    checkpoints first. They are kept in ``root/abandoned/`` (nothing trained is deleted).
    """
    root = Path(root)
    for leftover in root.glob(f".tmp-{CHECKPOINT_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    start = int(read_training_state(resume)["iteration"]) if resume is not None else 0
    moved = []
    for path in _checkpoint_folders(root):
        if (checkpoint_iteration(path) or 0) > start:
            target = root / "abandoned" / path.name
            suffix = 1
            while target.exists():
                target, suffix = root / "abandoned" / f"{path.name}-{suffix}", suffix + 1
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
            moved.append(target)
    if moved:
        _fsync(root)
        logger.warning(
            "starting from %s: the %d later checkpoint(s) of the run it leaves are moved to %s",
            resume or "scratch",
            len(moved),
            root / "abandoned",
        )
    return moved


# --------------------------------------------------------------------------------------------------- verification
def _file_record(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safetensors_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with a safetensors file's framing (header length, JSON header, data size), or None.

    Reads only the header, so it is cheap; a file cut short by a crash or a full disk fails here.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return f"{path.name} has {size} bytes, too few for a safetensors header"
        header_bytes = int.from_bytes(prefix, "little")
        if header_bytes > size - 8:
            return f"{path.name} is truncated: its header alone claims {header_bytes} bytes of the {size} present"
        try:
            header = json.loads(handle.read(header_bytes))
            ends = [int(entry["data_offsets"][1]) for key, entry in header.items() if key != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            return f"{path.name} has an unreadable safetensors header ({error})"
    data_bytes = size - 8 - header_bytes
    needed = max(ends, default=0)
    if needed != data_bytes:
        return f"{path.name} is truncated or padded: its tensors need {needed} data bytes, it has {data_bytes}"
    return None


def verify_checkpoint(folder: str | os.PathLike, checksums: bool = True) -> list[str]:
    """Everything wrong with a checkpoint folder, as readable phrases; an empty list means it verified.

    Checks the training state, then every file it recorded: present, of the recorded size, a consistent safetensors
    header, and (``checksums``) the recorded SHA-256, which reads every byte. Checkpoints from before sizes and
    checksums were recorded get the header check of every safetensors file present.
    """
    folder = Path(folder)
    try:
        state = read_training_state(folder)
    except (CheckpointError, ValueError, OSError) as error:
        return [str(error)]
    records = state.get(FILES_KEY)
    if records is None:
        names = sorted(path.name for path in folder.glob("*.safetensors"))
        return [problem for name in names if (problem := safetensors_problem(folder / name))]
    problems = []
    for name, record in sorted(records.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        size = path.stat().st_size
        if size != record["bytes"]:
            cut = " (truncated)" if size < record["bytes"] else ""
            problems.append(f"{name} has {size} bytes, {record['bytes']} were written{cut}")
        elif name.endswith(".safetensors") and (problem := safetensors_problem(path)):
            problems.append(problem)
        elif checksums and _sha256(path) != record["sha256"]:
            problems.append(f"{name} does not match the checksum recorded when it was written")
    return problems


def config_changes(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{key: (saved, current)}`` for every top-level key whose value differs."""
    keys = sorted(set(saved) | set(current))
    return {key: (saved.get(key), current.get(key)) for key in keys if saved.get(key) != current.get(key)}


def extend_history(state: dict[str, Any], changes: dict[str, tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The history of a resumed run: the checkpoint's entries plus one for ``changes`` made at this resume.

    Each entry says at which iteration (and image count) the run was resumed with which ``[before, after]`` values,
    so a model trained in several legs keeps a record of what each leg ran under.
    """
    history = list(state.get("history", []))
    if changes:
        history.append(
            {
                "iteration": state.get("iteration"),
                "num_images_seen": state.get("num_images_seen"),
                "changes": {key: [before, after] for key, (before, after) in changes.items()},
            }
        )
    return history


def resume_history(
    path: str | os.PathLike,
    command: str,
    config: dict[str, Any],
    resumable: tuple[str, ...] = (),
    architecture: tuple[str, ...] = (),
    options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Check that the checkpoint at ``path`` may continue under ``config``; return the history its successors carry.

    Changes to ``resumable`` config keys and to the run ``options`` (flags such as the checkpointing interval, stored
    in the state) are allowed and become a history entry; any other change raises :class:`CheckpointError`, naming
    each field and marking those in ``architecture`` (the saved weights do not fit such a model).
    """
    state = read_training_state(path)
    if state.get("command") != command:
        raise CheckpointError(f"checkpoint '{path}' was written by '{state.get('command')}', not '{command}'.")
    changes = config_changes(state.get("config", {}), config)
    refused = [
        f"{key}: {before!r} -> {after!r}"
        + ("  (architecture: the saved weights do not fit)" if key in architecture else "")
        for key, (before, after) in changes.items()
        if key not in resumable
    ]
    if refused:
        raise CheckpointError(
            f"checkpoint '{path}' belongs to another configuration; differing fields (checkpoint -> now):\n  "
            + "\n  ".join(refused)
        )
    if "options" in state:
        option_changes = config_changes(state["options"], options or {})
        changes.update({f"options.{key}": change for key, change in option_changes.items()})
    if changes:
        logger.info("resuming with changes (recorded in the checkpoint history): %s", changes)
    return extend_history(state, changes)


def config_differences(saved: dict[str, Any], current: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """Human-readable ``key: saved -> current`` lines for every top-level key that differs (minus ``ignore``)."""
    keys = sorted((set(saved) | set(current)) - set(ignore))
    return [f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in keys if saved.get(key) != current.get(key)]
