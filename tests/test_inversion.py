"""Latent optimisation variants and generator fine-tuning on a tiny random generator (inversion.py)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeplandscape_hf import DeepLandscapeGenerator, GeneratorConfig
from deeplandscape_hf.animation.inversion import (
    INVERSION_MODES,
    PRESETS,
    VARIANTS,
    InversionSettings,
    LatentOptimizer,
    fine_tune_generator,
    initial_latents,
    invert,
)
from deeplandscape_hf.networks.layers import NoiseInjection

RESOLUTION = 16


class StubEncoder(nn.Module):
    """Same interface as DeepLandscapeEncoder: images (B, 3, H, W) in [-1, 1] -> W+ (B, num_ws, w_dim)."""

    def __init__(self, num_ws: int, w_dim: int):
        super().__init__()
        self.num_ws, self.w_dim = num_ws, w_dim
        self.proj = nn.Linear(3, num_ws * w_dim)

    def forward(self, images: torch.Tensor, resize: bool = False) -> torch.Tensor:
        return self.proj(images.mean(dim=(2, 3))).view(-1, self.num_ws, self.w_dim)


def tiny_generator(seed: int = 0) -> DeepLandscapeGenerator:
    torch.manual_seed(seed)
    config = GeneratorConfig(
        resolution=RESOLUTION, channels=[16, 16, 8], z_dim=32, w_dim=16, mapping_layers=2, fused_from_resolution=16
    )
    model = DeepLandscapeGenerator(config).eval()
    with torch.no_grad():  # noise weights start at 0: give the maps an effect so their gradients are not zero
        for module in model.modules():
            if isinstance(module, NoiseInjection):
                module.weight.normal_(0, 0.5)
        model.w_avg.copy_(model.map(torch.randn(256, 32)).mean(0))
    return model


def linear_perceptual(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A cheap differentiable stand-in for VGG: per-sample L1 of 2x-downscaled images."""
    return (F.avg_pool2d(prediction, 2) - F.avg_pool2d(target, 2)).abs().flatten(1).mean(1)


@pytest.fixture
def setup():
    model = tiny_generator()
    with torch.no_grad():
        static, dynamic = model.make_noise(1, generator=torch.Generator().manual_seed(1))
        z = torch.randn(1, 32, generator=torch.Generator().manual_seed(2))
        target = model.synthesize(model.broadcast_w(model.map(z)), static, dynamic).clamp(-1, 1)
    encoder = StubEncoder(model.num_ws, 16)
    mask = torch.zeros(1, 1, RESOLUTION, RESOLUTION)
    mask[..., : RESOLUTION // 2, :] = 1.0  # top half is "sky"
    return model, target, encoder, mask


def settings(mode: str, **overrides) -> InversionSettings:
    values = {"num_iterations": 25, "fine_tune_iterations": 25, **overrides}
    return InversionSettings.from_preset(mode, "fast", **values)


@pytest.mark.parametrize("mode", INVERSION_MODES)
def test_every_variant_runs_and_lowers_its_loss(setup, mode):
    model, target, encoder, mask = setup
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = invert(
        model,
        target,
        mode,
        settings(mode),
        encoder=encoder,
        dynamic_mask=mask,
        perceptual=linear_perceptual,
        rng=torch.Generator().manual_seed(3),
    )
    spec = VARIANTS[mode]
    assert result.w_plus.shape == (1, model.num_ws, 16)
    assert [s.shape[-1] for s in result.static_noise] == [4, 8, 16]
    if spec.optimize:
        assert result.losses["optimization_l1"] < result.losses["encoder_l1"]
        trace = result.history["optimization"]
        assert min(trace[-4:]) < trace[0]
    else:  # E: encoder only, S ~ N(0, 1)
        assert "optimization" not in result.history
        assert 0.5 < torch.cat([s.flatten() for s in result.static_noise]).std() < 1.5
    if spec.fine_tune:
        assert result.fine_tuned and result.generator is not model
        assert result.losses["fine_tune_l1"] < result.losses["optimization_l1"]
    else:
        assert result.generator is model
    for key, value in model.state_dict().items():  # the loaded model is never touched
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())


class RecordingBar:
    """A progress bar that keeps every loss it is asked to show."""

    def __init__(self, shown: dict[str, list[float]], desc: str):
        self.losses = shown.setdefault(desc, [])

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, loss: str, refresh: bool = True) -> None:
        self.losses.append(float(loss))

    def close(self) -> None:
        pass


def test_eoifs_progress_shows_the_whole_photos_loss(setup):
    """EOIFS fits the land and the sky in turns; the bar shows their sum, not one region's loss and then the other's."""
    model, target, encoder, mask = setup
    shown: dict[str, list[float]] = {}
    result = invert(
        model,
        target,
        "eoifs",
        settings("eoifs", fine_tune_iterations=0),
        encoder=encoder,
        dynamic_mask=mask,
        perceptual=linear_perceptual,
        rng=torch.Generator().manual_seed(3),
        progress=lambda total, desc: RecordingBar(shown, desc),
    )
    passes = result.history["optimization"]
    whole = [passes[0]] + [earlier + later for earlier, later in zip(passes, passes[1:])]
    assert shown["Optimising latents"] == pytest.approx(whole, abs=1e-4)


def test_initialisation_per_variant(setup):
    model, target, encoder, _ = setup
    w, static, _ = initial_latents(model, target, VARIANTS["eoi"], encoder)
    assert torch.allclose(w, encoder(target))
    assert all(torch.count_nonzero(s) == 0 for s in static)
    w, static, dynamic = initial_latents(model, target, VARIANTS["i2s"], rng=torch.Generator().manual_seed(0))
    assert torch.allclose(w, model.w_avg.expand_as(w))
    assert all(torch.count_nonzero(s) > 0 for s in static + dynamic)
    with pytest.raises(ValueError, match="encoder"):
        initial_latents(model, target, VARIANTS["eo"], None)


def test_i2s_keeps_random_noise_fixed(setup):
    model, target, _, _ = setup
    rng = torch.Generator().manual_seed(5)
    result = invert(model, target, "i2s", settings("i2s"), perceptual=linear_perceptual, rng=rng)
    _, static0, dynamic0 = initial_latents(model, target, VARIANTS["i2s"], rng=torch.Generator().manual_seed(5))
    for got, start in zip(result.static_noise + result.dynamic_noise, static0 + dynamic0):
        assert torch.equal(got, start)
    s = InversionSettings.from_preset("i2s", "paper")
    assert (s.lr, s.num_iterations, s.perceptual_weight, s.early_stop) == (0.01, 4000, 1.0, None)


def _reference_gradients(opt: LatentOptimizer, kind: str):
    """Unscaled gradients of the same loss, computed independently of the optimiser's bookkeeping."""
    w = opt.w_plus.detach().clone().requires_grad_(True)
    static = [s.detach().clone().requires_grad_(True) for s in opt.static_noise]
    dynamic = [d.detach().clone().requires_grad_(True) for d in opt.dynamic_noise]
    image = opt.generator.synthesize(w, static, dynamic)
    target = opt.target
    if kind != "full":
        region = opt.static_mask if kind == "static" else 1 - opt.static_mask
        image, target = image * region, target * region
    loss = F.l1_loss(image, target) + opt.settings.perceptual_weight * linear_perceptual(image, target).mean()
    if opt.spec.tie_to_init:
        loss = loss + (w - opt.w_init).pow(2).mean(-1).sum(-1).mean()
    return torch.autograd.grad(loss, [w, *static, *dynamic])


def _optimizer(setup, mode, **overrides):
    model, target, encoder, mask = setup
    spec = VARIANTS[mode]
    w, static, dynamic = initial_latents(model, target, spec, encoder)
    # non-zero noise so that every map's gradient is informative
    gen = torch.Generator().manual_seed(9)
    static = [torch.randn(s.shape, generator=gen) for s in static]
    dynamic = [torch.randn(d.shape, generator=gen) for d in dynamic]
    return LatentOptimizer(
        model, target, w, static, dynamic, settings(mode, **overrides), spec, linear_perceptual, 1 - mask
    )


def test_noise_gradient_is_exactly_one_thousandth(setup):
    opt = _optimizer(setup, "eoi")
    reference = _reference_gradients(opt, "full")
    opt.compute_gradients(0)
    torch.testing.assert_close(opt.w_plus.grad, reference[0], rtol=1e-5, atol=1e-8)
    for param, ref in zip([*opt.static_noise, *opt.dynamic_noise], reference[1:]):
        assert ref.abs().max() > 0
        torch.testing.assert_close(param.grad, ref * 1e-3, rtol=1e-5, atol=1e-11)


@pytest.mark.parametrize("parity", [0, 1])
def test_eoifs_passes_touch_only_their_noise(setup, parity):
    opt = _optimizer(setup, "eoifs", static_pass_parity=parity)
    levels = len(opt.static_noise)
    for iteration in range(4):
        kind = opt.pass_kind(iteration)
        assert kind == ("static" if iteration % 2 == parity else "dynamic")
        reference = _reference_gradients(opt, kind)
        static_ref, dynamic_ref = reference[1 : 1 + levels], reference[1 + levels :]
        before_static = [s.detach().clone() for s in opt.static_noise]
        before_dynamic = [d.detach().clone() for d in opt.dynamic_noise]
        opt.compute_gradients(iteration)
        torch.testing.assert_close(opt.w_plus.grad, reference[0], rtol=1e-5, atol=1e-8)
        updated, frozen = (
            (opt.static_noise, opt.dynamic_noise) if kind == "static" else (opt.dynamic_noise, opt.static_noise)
        )
        updated_ref = static_ref if kind == "static" else dynamic_ref
        for param, ref in zip(updated, updated_ref):
            torch.testing.assert_close(param.grad, ref * 1e-3, rtol=1e-5, atol=1e-11)
        assert all(param.grad is None for param in frozen)
        opt.optimizer.step()
        opt.optimizer.zero_grad(set_to_none=True)
        moved_static = any(not torch.equal(a, b) for a, b in zip(opt.static_noise, before_static))
        moved_dynamic = any(not torch.equal(a, b) for a, b in zip(opt.dynamic_noise, before_dynamic))
        assert (moved_static, moved_dynamic) == ((True, False) if kind == "static" else (False, True))


def test_eoifs_official_zero_grad_option(setup):
    opt = _optimizer(setup, "eoifs", frozen_noise_update="zero_grad")
    opt.compute_gradients(0)  # supplement parity: iteration 0 is static
    assert all(torch.count_nonzero(d.grad) == 0 for d in opt.dynamic_noise)
    assert all(torch.count_nonzero(s.grad) > 0 for s in opt.static_noise)


def test_fine_tune_lowers_l1_and_leaves_original(setup):
    model, target, _, _ = setup
    w = model.broadcast_w(model.w_avg[None])
    static, dynamic = model.make_noise(1, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    start_l1 = F.l1_loss(model.synthesize(w, static, dynamic), target).item()
    tuned = fine_tune_generator(model, target, w, static, dynamic, settings("eoif"), perceptual=linear_perceptual)
    assert tuned.final_l1 < start_l1
    assert len(tuned.history) == 25
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    changed = [k for k, v in tuned.generator.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("blocks.") for k in changed) and any(k.startswith("to_rgb.") for k in changed)


def test_lr_halves_and_early_stop(setup):
    model, target, encoder, _ = setup
    s = settings("eo", num_iterations=60, lr_patience=2, early_stop=5, early_stop_eps=10.0)
    result = invert(model, target, "eo", s, encoder=encoder)
    assert result.iterations["optimization"] == 6  # no improvement > 10 ever: stop after 5 more iterations
    opt = _optimizer(setup, "eo", lr_patience=2, early_stop=None)
    opt.step(0)
    opt.scheduler.best = -1.0  # from here on no iteration counts as an improvement
    lrs = []
    for iteration in range(1, 7):
        opt.step(iteration)
        lrs.append(opt.optimizer.param_groups[0]["lr"])
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.05, 0.025]  # halved after every 2 + 1 iterations without improvement
    assert not opt.should_stop(100)


def test_presets_and_settings_table():
    paper = InversionSettings.from_preset("eoifs", "paper")
    assert (paper.lr, paper.perceptual_weight, paper.noise_grad_scale, paper.lr_patience) == (0.1, 0.01, 1e-3, 20)
    assert (paper.num_iterations, paper.fine_tune_iterations, paper.fine_tune_lr) == (500, 500, 1e-3)
    assert paper.fine_tune_perceptual_weight == 0.1 and paper.static_pass_parity == 0
    assert InversionSettings.from_preset("eoif", "paper").early_stop == 100
    assert InversionSettings.from_preset("eoif", "paper", early_stop=None).early_stop is None
    assert InversionSettings.from_preset("eoi", "paper").fine_tune_iterations == 0
    assert InversionSettings.from_preset("e", "paper").num_iterations == 0
    assert PRESETS["fast"].optimization_iterations < PRESETS["balanced"].optimization_iterations < 500
    with pytest.raises(ValueError, match="eoifs"):
        InversionSettings.from_preset("xyz")
    with pytest.raises(ValueError, match="paper"):
        InversionSettings.from_preset("eo", "turbo")
    with pytest.raises(ValueError, match="Unknown preset field"):
        PRESETS["fast"].replace(iterations=3)


def test_eoifs_needs_a_mask(setup):
    model, target, encoder, _ = setup
    with pytest.raises(ValueError, match="mask"):
        invert(model, target, "eoifs", settings("eoifs"), encoder=encoder)
    with pytest.raises(ValueError, match="target"):
        invert(model, target[..., :8, :8], "mo", settings("mo"))
