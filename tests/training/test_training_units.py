"""Pure training pieces: losses, the phase table, per-iteration choices, EMA, checkpoint files, shipped configs."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeplandscape_hf.training import checkpoint as ckpt
from deeplandscape_hf.training import run_control
from deeplandscape_hf.training.configs import (
    ARCHITECTURE_FIELDS,
    CONFIG_NAMES,
    RESUMABLE_CHANGES,
    GanTrainingConfig,
    get_config,
    official_batch_sizes,
)
from deeplandscape_hf.training.ema import make_ema, update_ema
from deeplandscape_hf.training.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from deeplandscape_hf.training.schedule import (
    LEARNING_RATES,
    OFFICIAL_CODE_BATCH_SIZES,
    SUPPLEMENT_BATCH_SIZES,
    ProgressiveSchedule,
    choose_iteration,
)


# --------------------------------------------------------------------------------------------------------- losses
def test_logistic_losses_match_their_formulas():
    real, fake = torch.tensor([[2.0], [-1.0]]), torch.tensor([[0.5], [3.0]])
    expected_d = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(d_logistic_loss(real, fake), expected_d, atol=1e-6)
    assert torch.allclose(g_nonsaturating_loss(fake), -torch.log(torch.sigmoid(fake)).mean(), atol=1e-6)


def test_r1_is_gamma_half_squared_gradient_norm_and_trains_d():
    weight = nn.Parameter(torch.randn(3 * 4 * 4))
    real = torch.randn(5, 3, 4, 4, requires_grad=True)
    logits = (real.flatten(1) * weight).sum(1, keepdim=True)  # linear D: grad_x D = weight for every sample
    penalty = r1_penalty(logits, real, gamma=10.0)
    assert torch.allclose(penalty, 5.0 * weight.detach().square().sum(), rtol=1e-5)
    penalty.backward()  # differentiable w.r.t. D's parameters: d/dw (5 ||w||^2) = 10 w
    assert torch.allclose(weight.grad, 10 * weight.detach(), rtol=1e-5)


def test_r1_is_float32_under_bf16_autocast():
    conv = nn.Conv2d(3, 1, 3, padding=1)
    real = torch.randn(4, 3, 8, 8, requires_grad=True)
    reference = r1_penalty(conv(real).mean((1, 2, 3))[:, None], real)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = conv(real).mean((1, 2, 3))[:, None]
        assert logits.dtype == torch.bfloat16
        penalty = r1_penalty(logits, real)
    assert penalty.dtype == torch.float32
    assert torch.allclose(penalty, reference, rtol=0.05)


def test_r1_refuses_inputs_without_grad():
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(torch.zeros(2, 1), torch.zeros(2, 3))


# --------------------------------------------------------------------------------------------------------- schedule
def _paper_schedule(**changes) -> ProgressiveSchedule:
    base = dict(
        initial_resolution=8,
        final_resolution=256,
        fade_images=600_000,
        stable_images=600_000,
        batch_sizes=SUPPLEMENT_BATCH_SIZES,
        learning_rates=LEARNING_RATES,
    )
    return ProgressiveSchedule(**{**base, **changes})


def test_phase_changes_switch_resolution_batch_and_lr_as_the_tables_say():
    schedule = _paper_schedule()
    expected = {8: (256, 1e-3), 16: (128, 1e-3), 32: (64, 1e-3), 64: (32, 1e-3), 128: (32, 1.5e-3), 256: (16, 2e-3)}
    for index, resolution in enumerate(schedule.resolutions):
        start = index * 1_200_000
        for images, phase, alpha in (
            (start, "fade", 0.0),
            (start + 300_000, "fade", 0.5),
            (start + 600_000, "stable" if resolution < 256 else "final", 1.0),
        ):
            state = schedule.state_at(images)
            assert (state.resolution, state.level) == (resolution, int(math.log2(resolution)) - 2)
            assert (state.batch_size, state.learning_rate) == expected[resolution]
            assert state.phase == phase and state.alpha == pytest.approx(alpha)
    # after the last fade-in training goes on at 256 px, alpha 1
    late = schedule.state_at(50_000_000)
    assert (late.resolution, late.alpha, late.phase) == (256, 1.0, "final")
    # the code's table: 32 at 128 px and up; lr 3e-3 at 512
    official = _paper_schedule(batch_sizes=OFFICIAL_CODE_BATCH_SIZES, final_resolution=512)
    assert official.state_at(6 * 1_200_000).batch_size == 32  # 512 px
    assert official.state_at(6 * 1_200_000).learning_rate == 3e-3
    assert official.state_at(5 * 1_200_000).batch_size == 32  # 256 px


def test_pairwise_probability_decays_over_every_fade_in_and_resets():
    schedule = _paper_schedule()
    for start in (0, 1_200_000, 6_000_000):
        assert schedule.state_at(start).pairwise_probability == pytest.approx(0.5)
        assert schedule.state_at(start + 300_000).pairwise_probability == pytest.approx(0.3)
        assert schedule.state_at(start + 599_999).pairwise_probability == pytest.approx(0.1, abs=1e-5)
        assert schedule.state_at(start + 900_000).pairwise_probability == pytest.approx(0.1)
    constant = _paper_schedule(pairwise_mode="constant", pairwise_constant=0.3)
    assert {constant.state_at(n).pairwise_probability for n in (0, 300_000, 900_000, 9_000_000)} == {0.3}
    assert _paper_schedule(use_pairwise=False).state_at(0).pairwise_probability == 0.0


def test_iteration_choices_follow_their_probabilities():
    schedule = _paper_schedule(final_resolution=64)
    state = schedule.state_at(3 * 1_200_000 + 300_000)  # 64 px (level 4), mid fade: p_pair = 0.3
    generator = torch.Generator().manual_seed(0)
    draws = [choose_iteration(state, 0.5, 0.9, generator) for _ in range(20_000)]
    pairwise = [d for d in draws if d.pairwise]
    mixed = [d.crossover_level for d in draws if d.crossover_level is not None]
    # binomial standard errors: ~0.003 (pairwise), ~0.006 (crops), ~0.002 (mixing); 5 sigma margins
    assert len(pairwise) / len(draws) == pytest.approx(0.3, abs=0.016)
    assert sum(d.crops for d in pairwise) / len(pairwise) == pytest.approx(0.5, abs=0.03)
    assert not any(d.crops for d in draws if not d.pairwise)
    assert len(mixed) / len(draws) == pytest.approx(0.9, abs=0.011)
    counts = np.bincount(mixed, minlength=state.level)
    assert len(counts) == state.level  # crossover in [0, level - 1]
    assert np.allclose(counts / len(mixed), 1 / state.level, atol=0.02)
    # same generator state, same choices: every rank draws the same sequence
    again = torch.Generator().manual_seed(0)
    assert [choose_iteration(state, 0.5, 0.9, again) for _ in range(50)] == draws[:50]


def test_schedule_rejects_bad_tables():
    with pytest.raises(ValueError, match="batch size"):
        _paper_schedule(batch_sizes={8: 4})
    with pytest.raises(ValueError, match="initial_resolution"):
        _paper_schedule(initial_resolution=512)


# --------------------------------------------------------------------------------------------------------- EMA
def test_ema_averages_parameters_and_copies_buffers():
    model = nn.BatchNorm1d(3)
    ema = make_ema(model)
    assert not any(p.requires_grad for p in ema.parameters())
    with torch.no_grad():
        model.weight.fill_(2.0)
        model.running_mean.fill_(5.0)
    update_ema(ema, model, decay=0.9)
    assert torch.allclose(ema.weight, torch.full((3,), 0.9 * 1.0 + 0.1 * 2.0))
    assert torch.equal(ema.running_mean, model.running_mean)


# --------------------------------------------------------------------------------------------------------- checkpoints
def test_optimizer_and_rng_states_round_trip_without_pickles(tmp_path):
    model = nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.0, 0.99))
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    ckpt.save_state_files(tmp_path, "optimizer", optimizer.state_dict())
    restored = torch.optim.Adam(model.parameters())
    restored.load_state_dict(ckpt.load_state_files(tmp_path, "optimizer"))
    saved, loaded = optimizer.state_dict(), restored.state_dict()
    assert loaded["param_groups"][0]["betas"] == (0.0, 0.99)
    for key in saved["state"]:
        for name, value in saved["state"][key].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded["state"][key][name]))

    generator = torch.Generator().manual_seed(7)
    ckpt.save_state_files(tmp_path, "rng", ckpt.capture_rng_state({"g": generator}))
    before = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())
    ckpt.restore_rng_state(ckpt.load_state_files(tmp_path, "rng"), {"g": generator})
    after = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())
    assert before == after
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.bin"))
    json.loads((tmp_path / "rng.json").read_text())  # plain JSON


def _fake_checkpoint(root, iteration: int):
    tmp = ckpt.temporary_checkpoint_dir(root, iteration)
    ckpt.save_weights(tmp, "generator", {"w": torch.full((2,), float(iteration))})
    ckpt.write_training_state(tmp, {"iteration": iteration})
    return tmp


def test_checkpoints_commit_atomically_rotate_and_survive_a_crash(tmp_path):
    for iteration in (10, 20, 30):
        ckpt.commit_checkpoint(_fake_checkpoint(tmp_path, iteration), total_limit=2)
    assert [ckpt.checkpoint_iteration(p) for p in ckpt.list_checkpoints(tmp_path)] == [20, 30]
    # a crash while writing 40: its temporary folder is never taken for a checkpoint, 30 stays intact
    crashed = ckpt.temporary_checkpoint_dir(tmp_path, 40)
    ckpt.save_weights(crashed, "generator", {"w": torch.zeros(2)})
    assert ckpt.latest_checkpoint(tmp_path).name == "checkpoint-30"
    assert ckpt.resolve_resume_path(tmp_path, "latest").name == "checkpoint-30"
    assert torch.equal(ckpt.load_weights(ckpt.latest_checkpoint(tmp_path), "generator")["w"], torch.full((2,), 30.0))
    with pytest.raises(ckpt.CheckpointError, match="refusing to commit"):
        ckpt.commit_checkpoint(crashed)
    # re-saving the same iteration replaces it whole
    tmp = ckpt.temporary_checkpoint_dir(tmp_path, 30)
    ckpt.save_weights(tmp, "generator", {"w": torch.ones(2)})
    ckpt.write_training_state(tmp, {"iteration": 30})
    ckpt.commit_checkpoint(tmp)
    assert torch.equal(ckpt.load_weights(tmp_path / "checkpoint-30", "generator")["w"], torch.ones(2))
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        ckpt.resolve_resume_path(tmp_path, str(tmp_path / "checkpoint-99"))
    assert ckpt.resolve_resume_path(tmp_path / "nothing-here", "latest") is None


def test_cuda_random_states_restore_onto_a_machine_with_fewer_gpus(monkeypatch):
    """Each process saves the state of every GPU it sees; resuming where fewer are visible sets those it has."""
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((int(state[0]), device)))
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": [torch.tensor([7], dtype=torch.uint8), torch.tensor([8], dtype=torch.uint8)],  # saved on 2 GPUs
    }
    ckpt.restore_rng_state(state)
    assert restored == [(7, 0)]


def test_batches_that_do_not_split_evenly_over_the_processes_are_named():
    assert run_control.batch_per_process(8, 3) == 2
    assert run_control.uneven_batch_warning([16, 8, 8], 2) is None
    warning = run_control.uneven_batch_warning([16, 8, 6], 4)
    assert warning is not None and "global batch sizes 6 train as 4;" in warning


# --------------------------------------------------------------------------------------------------------- configs
def test_shipped_configs_build_and_match_the_ablation_table():
    for name in CONFIG_NAMES:
        config = get_config(name)
        assert GanTrainingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    table = {  # official configs/train/ablation: (pairwise D, two noises, z_dyn, crops, pairwise mode, constant)
        "original": (False, False, 0, 0.0, "decay", None),
        "frame_discr": (True, False, 0, 0.0, "decay", None),
        "two_noises": (True, True, 0, 0.0, "decay", None),
        "two_noises_z3": (True, True, 3, 0.0, "decay", None),
        "two_noises_z3_crop_decay": (True, True, 3, 0.5, "decay", None),
        "freq_01": (True, True, 3, 0.5, "constant", 0.1),
        "freq_03": (True, True, 3, 0.5, "constant", 0.3),
        "freq_05": (True, True, 3, 0.5, "constant", 0.5),
    }
    for name, (pairwise, two_noises, z_dyn, crops, mode, constant) in table.items():
        config = get_config(name)
        assert config.resolution == 128
        assert (config.use_pairwise, config.two_noises, config.z_dynamic_dim) == (pairwise, two_noises, z_dyn)
        assert (config.crop_probability, config.pairwise_mode) == (crops, mode)
        if constant is not None:
            assert config.pairwise_constant == constant
    paper = get_config("256")
    assert paper.generator_config().mapping_lr_multiplier == 0.01  # the authors' M learns at a hundredth
    bundled_recipe = get_config(str(Path(__file__).resolve().parents[2] / "scripts" / "default_model_config.json"))
    assert bundled_recipe.generator_config().mapping_lr_multiplier == 1.0  # a short run: M learns at full rate
    assert paper.batch_sizes[256] == 16 and official_batch_sizes(paper).batch_sizes[256] == 32
    assert (paper.mixing_probability, paper.r1_gamma, paper.ema_decay) == (0.9, 10.0, 0.999)
    assert paper.generator_config().channels == [512, 512, 512, 512, 256, 128, 64]
    with pytest.raises(ValueError, match="unknown config"):
        get_config("nope")


def test_losses_work_on_real_discriminator_logits():
    # smoke on the real D: d loss + R1 backpropagate into every used D weight
    from deeplandscape_hf.networks.discriminator import DiscriminatorConfig, PairwiseDiscriminator

    discriminator = PairwiseDiscriminator(DiscriminatorConfig(resolution=16, channels=[8, 8, 8], frames=2))
    real = torch.randn(3, 2, 3, 16, 16, requires_grad=True)
    logits = discriminator(real, level=2, alpha=0.5)
    loss = d_logistic_loss(logits, discriminator(torch.randn(3, 2, 3, 16, 16), level=2)) + r1_penalty(logits, real)
    loss.backward()
    assert discriminator.from_rgb[2].weight.grad is not None
    assert torch.isfinite(F.softplus(logits)).all()


def test_a_resume_may_change_length_ema_and_probabilities_but_not_the_objective_or_the_networks():
    saved = get_config("tiny").to_dict()
    changed = get_config("tiny").replace(max_kimg=5.0, ema_decay=0.99, pairwise_mode="constant", mixing_probability=0.5)
    assert ckpt.config_differences(saved, changed.to_dict(), ignore=RESUMABLE_CHANGES) == []
    other_r1 = get_config("tiny").replace(r1_gamma=1.0).to_dict()
    assert ckpt.config_differences(saved, other_r1, ignore=RESUMABLE_CHANGES) == ["r1_gamma: 10.0 -> 1.0"]
    assert not set(ARCHITECTURE_FIELDS) & set(RESUMABLE_CHANGES)
    assert set(ARCHITECTURE_FIELDS) <= set(saved)
