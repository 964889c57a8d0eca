"""What keeps a training run well behaved around the training loop itself.

* :class:`StopSignals`: SIGINT / SIGTERM ask the run to stop at the next iteration boundary (the trainer then saves a
  checkpoint and exits); a second SIGINT aborts at once. :func:`any_rank` makes every process agree on stopping, so
  no rank is left waiting in a collective that the others never join.
* :class:`OutputLock`: one run per output folder. The lock file names the holder (host, PID, start time); a live
  holder makes a second run fail with a message naming it, a dead one's lock is taken over with a warning.
* :func:`exit_with_launcher`: a worker started by ``accelerate launch`` / ``torchrun`` stops with its launcher (it
  saves one last checkpoint and exits), so a killed launcher leaves no orphan that goes on training.
* :func:`process_count_warning`: says when several processes were asked for but this run has one.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import json
import logging
import os
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

LOCK_NAME = ".training.lock"
_LAUNCHER_ENV = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK", "ACCELERATE_USE_CPU")  # set for workers of the launchers
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
INTERRUPT_EXIT_CODE = 130  # 128 + SIGINT, what shells report for a run stopped with Ctrl-C
ORPHAN_GRACE_SECONDS = 300.0  # a worker whose launcher died gets this long to save its checkpoint, then exits
_launcher_pid: int | None = None  # parent recorded by exit_with_launcher()


# ----------------------------------------------------------------------------------------------------- signals
class StopSignals:
    """Turn SIGINT and SIGTERM into a stop request read at iteration boundaries; a second SIGINT aborts at once.

    The handler only sets a flag, so whatever the process is doing (a collective, a file write) finishes first.
    Use as a context manager around the training loop; the previous handlers come back on exit.
    """

    HANDLED = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, announce: bool = True):
        self.received: signal.Signals | None = None
        self._announce = announce
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # python only lets the main thread set handlers
            for sig in self.HANDLED:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return self.received is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if launcher_died():
            # Once the launcher is gone, signals arrive in no telling order (its death signal from exit_with_launcher,
            # the Ctrl-C that killed it), so none counts as a second request: save, within a bounded time.
            _exit_after(ORPHAN_GRACE_SECONDS)
            if self.received is not None:
                return
        if self.received is not None and sig == signal.SIGINT:
            # Written with os.write: print() is not safe inside a handler that may interrupt another print.
            os.write(2, b"\nsecond interrupt: aborting now, without saving.\n")
            os._exit(INTERRUPT_EXIT_CODE)
        if self.received is None and self._announce:
            message = f"\n{sig.name}: stopping after this iteration to save a checkpoint (Ctrl-C again: abort).\n"
            os.write(2, message.encode())
        self.received = self.received or sig

    @property
    def exit_code(self) -> int:
        """130 (the shell's "interrupted") after a stop signal, whichever it was: the run saved and can resume, but it
        did not finish, so ``gan && encoder`` chains stop there; 0 otherwise."""
        return 130 if self.received is not None else 0


def any_rank(accelerator: Any, flag: bool) -> bool:
    """True on every process when ``flag`` is true on any: one small all-reduce, run by all ranks at the same point."""
    if accelerator.num_processes == 1:
        return flag
    import torch  # here, so the launcher-facing helpers of this module load in a blink

    value = torch.tensor([1.0 if flag else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(value, reduction="sum").item() > 0)


def agree_on_error(accelerator: Any, action: Callable[[], None], errors: tuple[type[Exception], ...]) -> str | None:
    """Run ``action`` on the main process; every process gets the message of the ``errors`` it raised, or None.

    Lets all ranks fail together with the same message instead of leaving the others blocked in a collective.
    """
    message = None
    if accelerator.is_main_process:
        try:
            action()
        except errors as error:
            message = str(error)
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        message = broadcast_object_list([message], from_process=0)[0]
    return message


def launcher_signal_exceptions() -> tuple[type[BaseException], ...]:
    """``SignalException``: what torch's elastic agent (behind ``accelerate launch --multi_gpu``) raises from its own
    signal handlers, in any process where they are installed; to be caught like KeyboardInterrupt."""
    try:
        from torch.distributed.elastic.multiprocessing.api import SignalException
    except ImportError:
        return ()
    return (SignalException,)


def resume_command(argv: Sequence[str], multi_process: bool) -> str:
    """The command line that continues this run: the same arguments with ``--resume_from_checkpoint latest``."""
    args, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--resume_from_checkpoint":
            skip = True
        elif not item.startswith("--resume_from_checkpoint="):
            args.append(item)
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0].endswith(".py") else "train_accelerate.py"
    launcher = "accelerate launch [the same launch options]" if multi_process else "python"
    return f"{launcher} {shlex.join([script, *args, '--resume_from_checkpoint', 'latest'])}"


# ----------------------------------------------------------------------------------------------------- lock
def _process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, Linux), to tell a live holder from a reused PID; else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in parentheses may hold spaces


def _is_alive(holder: dict[str, Any]) -> bool:
    """Whether the process a lock names still runs. A holder on another host cannot be checked: assumed alive."""
    if holder.get("host") != socket.gethostname() or os.name == "nt":  # on Windows os.kill(pid, 0) would kill it
        return True
    pid = int(holder.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    recorded, current = holder.get("process_start"), _process_start_ticks(pid)
    return recorded is None or current is None or recorded == current


def _describe(holder: dict[str, Any]) -> str:
    return (
        f"PID {holder.get('pid')} on {holder.get('host')}, started {holder.get('started', '?')}"
        f" ({holder.get('command', '?')})"
    )


class OutputLockedError(RuntimeError):
    """Another live run holds the output folder."""


class OutputLock:
    """An exclusive, liveness-checked claim on an output folder for the lifetime of one run.

    The claim is an ``flock`` on ``<folder>/.training.lock`` (released by the kernel however the process ends) plus
    the holder's host, PID and start time written inside, which the refusal message names and which is checked for
    liveness where ``flock`` is not available or not honoured (some network file systems).
    """

    def __init__(self, folder: str | os.PathLike, command: str):
        self.path = Path(folder) / LOCK_NAME
        self.command = command
        self._handle: Any = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`OutputLockedError` naming the live holder; take over a stale one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the whole run, closed by release()
        try:
            state = _try_flock(handle)
            holder = self._read(handle)
            if state == "held" or (state == "unsupported" and holder and _is_alive(holder)):
                raise OutputLockedError(self._refusal(holder))
            if holder:
                logger.warning(
                    "taking over the lock of a run that is no longer running (%s): its last checkpoint is kept, "
                    "and any checkpoint it was writing when it ended is ignored.",
                    _describe(holder),
                )
            self._write(handle)
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def release(self) -> None:
        """Empty the lock file and let go (safe to call twice).

        The file itself stays: removing it would let a run that opened it a moment earlier lock the removed file while
        a third run creates and locks a new one. An empty lock file reads as "released".
        """
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self._handle.truncate(0)
            self._handle.flush()
        self._handle.close()
        self._handle = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _refusal(self, holder: dict[str, Any]) -> str:
        where = self.path.parent
        if not holder:
            return (
                f"'{where}' is in use by another run (it holds {self.path}). Wait for it, or pick another --output_dir."
            )
        return (
            f"'{where}' is in use by another run: {_describe(holder)}. Wait for it to finish or stop it (Ctrl-C saves "
            f"a checkpoint), or pick another --output_dir. If that run is gone, delete {self.path}."
        )

    @staticmethod
    def _read(handle: Any) -> dict[str, Any]:
        handle.seek(0)
        try:
            return json.loads(handle.read() or "{}")
        except ValueError:
            return {}

    def _write(self, handle: Any) -> None:
        pid = os.getpid()
        holder = {
            "host": socket.gethostname(),
            "pid": pid,
            "process_start": _process_start_ticks(pid),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": self.command,
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        os.fsync(handle.fileno())


def _try_flock(handle: Any) -> str:
    """Non-blocking exclusive flock: "acquired", "held" (by a live process) or "unsupported" (no flock here)."""
    try:
        import fcntl
    except ImportError:
        return "unsupported"
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "held"
    except OSError:
        return "unsupported"
    return "acquired"


# ----------------------------------------------------------------------------------------------------- launcher
def launcher_died() -> bool:
    """Whether this worker's launcher (recorded by :func:`exit_with_launcher`) is gone."""
    return _launcher_pid is not None and os.getppid() != _launcher_pid


def _exit_after(seconds: float) -> None:
    timer = threading.Timer(seconds, os._exit, args=(1,))
    timer.daemon = True
    timer.start()


def launched_by_launcher() -> bool:
    """Whether this process is a worker of ``accelerate launch`` / ``torchrun`` (they set these variables)."""
    return any(name in os.environ for name in _LAUNCHER_ENV)


def exit_with_launcher(poll_seconds: float = 1.0) -> None:
    """Make a launcher's worker stop with its launcher (no-op for a process started directly).

    Linux: the kernel sends SIGTERM when the parent dies (``prctl(PR_SET_PDEATHSIG)``), which :class:`StopSignals`
    turns into "save a checkpoint and exit" (within :data:`ORPHAN_GRACE_SECONDS`; before the handlers are installed
    SIGTERM simply ends the process). Elsewhere a daemon thread notices the parent change within ``poll_seconds`` and
    sends the same signal. A direct ``python train_accelerate.py`` under ``nohup`` is left alone.
    """
    global _launcher_pid
    if not launched_by_launcher():
        return
    _launcher_pid = os.getppid()  # may be 1: in a container the launcher can be the first process
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
                if launcher_died():  # the launcher died before the call took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while not launcher_died():
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-launcher", daemon=True).start()


def batch_per_process(batch: int, num_processes: int) -> int:
    """Each process's share of a global batch. Processes take equal shares, so the batch trained is
    ``num_processes`` times this, which differs from ``batch`` when it does not divide evenly."""
    return max(1, batch // num_processes)


def uneven_batch_warning(batches: Iterable[int], num_processes: int) -> str | None:
    """A warning naming the global batch sizes that ``num_processes`` cannot split evenly, else None."""
    uneven = sorted({int(batch) for batch in batches if int(batch) % num_processes})
    if not uneven:
        return None
    trained = [num_processes * batch_per_process(batch, num_processes) for batch in uneven]
    return (
        f"{num_processes} processes take equal shares of each batch, so the global batch sizes "
        f"{', '.join(map(str, uneven))} train as {', '.join(map(str, trained))}; sizes divisible by {num_processes} "
        "train as configured."
    )


def process_count_warning(actual: int) -> str | None:
    """A warning when more processes were asked for than run, else None.

    ``accelerate launch --num_processes 2 --cpu`` without ``--multi_gpu`` starts one process (the launcher sets
    MASTER_PORT but no WORLD_SIZE); an accelerate config may ask for several while the script runs without the
    launcher.
    """
    asked, how = 1, ""
    world = int(os.environ.get("WORLD_SIZE", "0") or 0)
    if world > 1:
        asked, how = world, f"WORLD_SIZE={world}"
    elif "MASTER_PORT" in os.environ and "WORLD_SIZE" not in os.environ:
        asked, how = 2, "accelerate launch --num_processes > 1 without --multi_gpu"
    else:
        configured = _configured_processes()
        if configured > 1 and not launched_by_launcher():
            asked, how = configured, f"the accelerate config's num_processes: {configured}, but no `accelerate launch`"
    if asked <= actual:
        return None
    return (
        f"several processes were asked for ({how}) but this run has {actual}. Two processes on CPU need: accelerate "
        "launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no "
        "train_accelerate.py ..."
    )


def _configured_processes() -> int:
    try:
        import yaml
        from accelerate.commands.config import default_config_file

        path = Path(default_config_file)
        if not path.is_file():
            return 1
        return int((yaml.safe_load(path.read_text()) or {}).get("num_processes", 1) or 1)
    except Exception:  # noqa: BLE001 - an unreadable accelerate config only means no warning
        return 1
