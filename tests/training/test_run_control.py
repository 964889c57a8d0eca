"""Run control and checkpoint verification: stop signals, the output-folder lock, workers that stop with their
launcher, the process-count warning, and `latest` skipping damaged checkpoints."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from deeplandscape_hf.training import checkpoint as ckpt
from deeplandscape_hf.training import run_control

REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------------------- signals
def test_first_signal_asks_to_stop_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with run_control.StopSignals(announce=False) as stop:
        assert not stop.requested
        signal.raise_signal(signal.SIGTERM)  # the handler runs now; the process goes on
        assert stop.requested and stop.received == signal.SIGTERM and stop.exit_code == 130
        signal.raise_signal(signal.SIGTERM)  # a second SIGTERM does not abort
    assert signal.getsignal(signal.SIGTERM) is before


def test_second_ctrl_c_aborts_at_once_without_a_traceback():
    script = textwrap.dedent(
        """
        import signal, time
        from deeplandscape_hf.training.run_control import StopSignals
        with StopSignals() as stop:
            signal.raise_signal(signal.SIGINT)
            print("first", stop.requested, flush=True)
            signal.raise_signal(signal.SIGINT)
            print("not reached", flush=True)
        """
    )
    result = _python(script)
    assert result.returncode == 130
    assert "first True" in result.stdout and "not reached" not in result.stdout
    assert "aborting now" in result.stderr and "Traceback" not in result.stderr


def test_resume_command_repeats_the_arguments_with_resume_latest():
    argv = ["gan", "--config", "tiny", "--resume_from_checkpoint", "out/checkpoints/gan/checkpoint-4", "--seed", "3"]
    command = run_control.resume_command(argv, multi_process=False)
    assert command.endswith("gan --config tiny --seed 3 --resume_from_checkpoint latest")
    assert command.startswith("python ") and "checkpoint-4" not in command
    assert run_control.resume_command(["gan"], multi_process=True).startswith("accelerate launch")


# --------------------------------------------------------------------------------------------------------- lock
def _python(script: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60, env=env, **kwargs
    )


def test_a_live_holder_is_named_and_refused(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from deeplandscape_hf.training.run_control import OutputLock; "
            "lock = OutputLock(sys.argv[1], 'gan'); lock.acquire(); print('locked', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(run_control.OutputLockedError, match=rf"in use by another run: PID {holder.pid} on "):
            run_control.OutputLock(tmp_path, "gan").acquire()
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the dead holder's lock: the folder can be claimed again, with a warning
    with run_control.OutputLock(tmp_path, "gan"):
        assert json.loads((tmp_path / run_control.LOCK_NAME).read_text())["pid"] == os.getpid()
    assert (tmp_path / run_control.LOCK_NAME).read_text() == ""  # released


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"host": socket.gethostname(), "pid": dead.pid, "started": "2026-01-01T00:00:00", "command": "gan"}
    (tmp_path / run_control.LOCK_NAME).write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING), run_control.OutputLock(tmp_path, "encoder"):
        holder = json.loads((tmp_path / run_control.LOCK_NAME).read_text())
        assert (holder["pid"], holder["command"]) == (os.getpid(), "encoder")
    assert f"PID {dead.pid}" in caplog.text and "no longer running" in caplog.text


def test_without_flock_the_recorded_pid_decides(tmp_path, monkeypatch):
    # File systems without flock: a live PID on this host refuses, a dead one is taken over.
    monkeypatch.setattr(run_control, "_try_flock", lambda handle: "unsupported")
    live = {"host": socket.gethostname(), "pid": os.getppid(), "command": "gan"}
    (tmp_path / run_control.LOCK_NAME).write_text(json.dumps(live))
    with pytest.raises(run_control.OutputLockedError, match=f"PID {os.getppid()}"):
        run_control.OutputLock(tmp_path, "gan").acquire()
    other_host = {**live, "host": socket.gethostname() + "-elsewhere"}  # cannot be checked: assumed alive
    (tmp_path / run_control.LOCK_NAME).write_text(json.dumps(other_host))
    with pytest.raises(run_control.OutputLockedError, match="If that run is gone, delete"):
        run_control.OutputLock(tmp_path, "gan").acquire()


# --------------------------------------------------------------------------------------------------------- launcher
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux only")
def test_a_worker_stops_when_its_launcher_is_killed(tmp_path):
    worker = (
        "import time; from deeplandscape_hf.training.run_control import exit_with_launcher; exit_with_launcher(); "
        "print('ready', flush=True); time.sleep(60)"
    )
    launcher = textwrap.dedent(
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", {worker!r}], stdout=subprocess.PIPE, text=True)
        child.stdout.readline()
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "LOCAL_RANK": "0"}
    parent = subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.PIPE, text=True, env=env)
    worker_pid = int(parent.stdout.readline())
    parent.kill()  # kill -9: the launcher gets no chance to clean up
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(worker_pid):
        time.sleep(0.1)
    assert not _running(worker_pid), "the worker outlived its launcher"


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan reparented to a non-reaping init stays a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_process_started_directly_is_not_tied_to_its_parent(monkeypatch):
    for name in ("TORCHELASTIC_RUN_ID", "LOCAL_RANK", "ACCELERATE_USE_CPU"):
        monkeypatch.delenv(name, raising=False)
    assert not run_control.launched_by_launcher()
    run_control.exit_with_launcher()  # a no-op: `nohup python train_accelerate.py` must survive its shell
    assert not run_control.launcher_died()


def test_asking_for_two_processes_and_getting_one_is_reported(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("MASTER_PORT", "29500")  # what `accelerate launch --num_processes 2 --cpu` leaves
    warning = run_control.process_count_warning(1)
    assert warning and "without --multi_gpu" in warning and "--multi_gpu --num_processes 2" in warning
    monkeypatch.delenv("MASTER_PORT")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert "WORLD_SIZE=2" in run_control.process_count_warning(1)
    assert run_control.process_count_warning(2) is None


# --------------------------------------------------------------------------------------------------------- checkpoints
def _checkpoint(root: Path, iteration: int) -> Path:
    tmp = ckpt.temporary_checkpoint_dir(root, iteration)
    ckpt.save_weights(tmp, "generator", {"w": torch.full((64,), float(iteration))})
    ckpt.save_state_files(tmp, "optimizer_generator", {"step": torch.tensor(iteration), "lr": 0.1})
    ckpt.write_training_state(tmp, {"iteration": iteration})
    return ckpt.commit_checkpoint(tmp)


def test_latest_skips_a_truncated_and_an_incomplete_checkpoint(tmp_path, caplog):
    good, truncated, incomplete = (_checkpoint(tmp_path, i) for i in (10, 20, 30))
    assert ckpt.verify_checkpoint(good) == []
    weights = truncated / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    (incomplete / "optimizer_generator.safetensors").unlink()
    (tmp_path / "checkpoint-40").mkdir()  # a folder that never got its training state
    with caplog.at_level(logging.WARNING):
        assert ckpt.resolve_resume_path(tmp_path, "latest") == good
    assert "checkpoint-40' is not a complete training checkpoint (no training_state.json)" in caplog.text
    assert "checkpoint-30: optimizer_generator.safetensors is missing" in caplog.text
    assert f"checkpoint-20: generator.safetensors has {weights.stat().st_size} bytes" in caplog.text
    with pytest.raises(ckpt.CheckpointError, match="(?s)checkpoint-20' is damaged: generator.safetensors.*'latest'"):
        ckpt.resolve_resume_path(tmp_path, str(truncated))


def test_damage_that_keeps_the_size_is_caught(tmp_path):
    path = _checkpoint(tmp_path, 10)
    weights = path / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the tensor data
    weights.write_bytes(bytes(data))
    assert ckpt.verify_checkpoint(path) == [
        "generator.safetensors does not match the checksum recorded when it was written"
    ]
    header = bytearray(weights.read_bytes())
    header[0:8] = (10**9).to_bytes(8, "little")  # a header length beyond the file
    weights.write_bytes(bytes(header))
    assert "its header alone claims 1000000000 bytes" in ckpt.verify_checkpoint(path)[0]
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint under .* verifies"):
        ckpt.resolve_resume_path(tmp_path, "latest")


def test_rotation_deletes_nothing_until_the_new_checkpoint_verifies(tmp_path, monkeypatch):
    def commit(iteration: int) -> None:
        tmp = ckpt.temporary_checkpoint_dir(tmp_path, iteration)
        ckpt.save_weights(tmp, "generator", {"w": torch.zeros(2)})
        ckpt.write_training_state(tmp, {"iteration": iteration})
        ckpt.commit_checkpoint(tmp, total_limit=1)

    commit(10)
    commit(20)
    verify = ckpt.verify_checkpoint
    monkeypatch.setattr(
        ckpt, "verify_checkpoint", lambda path, checksums=True: ["disk full"] if path.name.endswith("-30") else []
    )
    commit(30)  # does not verify: 20 stays
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["checkpoint-20", "checkpoint-30"]
    monkeypatch.setattr(ckpt, "verify_checkpoint", verify)
    commit(40)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["checkpoint-40"]
