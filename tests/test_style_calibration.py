"""Per-model style vocabularies: calibration, pipeline.json, and refusing names a model cannot render."""

import json

import numpy as np
import pytest
import torch

from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline, PipelineConfig
from deeplandscape_hf.cli import main as cli_main
from deeplandscape_hf.motion import style_calibration as C
from deeplandscape_hf.motion import styles as S

SKY = torch.tensor([0.45, 0.6, 0.85])  # a blue day sky, RGB in [0, 1]
LAND = torch.tensor([0.3, 0.42, 0.2])  # green hills


def _scenes(light: torch.Tensor, warmth: torch.Tensor, land_shade: torch.Tensor) -> torch.Tensor:
    """Pictures (..., N, 3, 16, 16) in [-1, 1]: sky over land, lit by ``light``, the sky warmed by ``warmth`` and the
    land shaded by ``land_shade`` (each (..., N))."""
    sky = SKY + torch.stack([warmth, -0.4 * warmth, -warmth], -1) * 0.08
    sky = (sky * light[..., None]).clamp(0, 1)
    land = (LAND * (light * land_shade)[..., None]).clamp(0, 1)
    rows = torch.cat([sky[..., None].expand(*sky.shape, 8), land[..., None].expand(*land.shape, 8)], -1)
    return rows[..., None].expand(*rows.shape, 16) * 2 - 1


def colour_model(num_scenes: int = 4, own: torch.Tensor | None = None) -> C.StyleSamples:
    """A tiny model whose z_dyn sets its colour: z_dyn[0] darkens, z_dyn[1] warms the sky, z_dyn[2] shades the land.

    As network A does, a style moves each scene's own z_dyn (``own``, (N, 3); default: N small random ones) toward
    the target by the strength t.
    """
    if own is None:
        own = torch.randn(num_scenes, 3, generator=torch.Generator().manual_seed(1)) * 0.3

    def picture(z: torch.Tensor) -> torch.Tensor:
        return _scenes(torch.exp(-0.45 * z[..., 0]), z[..., 1], torch.exp(-0.45 * z[..., 2]))

    def render(targets: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
        t = strengths[:, None, None]
        return picture((1 - t) * own + t * targets[:, None, :])

    return C.StyleSamples(picture(own), render)


def _styled_change(samples: C.StyleSamples, z_dyn, strength: float) -> torch.Tensor:
    base_sky, base_land = C.sky_and_land_lab(samples.unstyled)
    sky, land = C.sky_and_land_lab(samples.render(torch.tensor([z_dyn]), torch.tensor([strength])))
    return C.look_change(sky, land, base_sky, base_land).mean(1)[0]


def test_calibration_finds_the_known_targets_of_a_model_whose_z_dyn_sets_its_colour():
    samples = colour_model()
    promises = {
        "night": C.ColourChange(sky_l_ratio=0.4, land_l_ratio=0.4, tolerance=3.0),  # z_dyn[0] alone does this
        "sunset": C.ColourChange(sky_db=15.0, land_l_ratio=1.0, tolerance=3.0),  # z_dyn[1] alone
    }
    results = C.calibrate_styles(samples, default_strength=0.7, changes=promises)
    night, sunset = results["night"], results["sunset"]
    assert night.reachable and sunset.reachable
    # the known answer: how far along z_dyn[0] the scenes must move to reach 0.4 of their lightness (bisection)
    low, high = 0.0, 4.0
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if _styled_change(samples, (middle, 0.0, 0.0), 1.0)[0] > 0.4 else (low, middle)
    assert night.z_dyn[0] * night.strength == pytest.approx(low, abs=0.25)
    assert sunset.z_dyn[1] * sunset.strength > 1.0  # warming is z_dyn[1]'s job
    # what calibration reports is what its target does when rendered again
    torch.testing.assert_close(
        _styled_change(samples, night.z_dyn, night.strength), torch.tensor(night.change), atol=0.01, rtol=0
    )  # up to the rounding of the stored target


def test_on_one_photo_the_search_goes_on_from_the_models_target_until_the_photo_keeps_the_promise():
    promise = C.ColourChange(sky_db=15.0, land_l_ratio=1.0, tolerance=3.0)
    sunset = C.calibrate_styles(colour_model(), 0.7, changes={"sunset": promise})["sunset"]
    assert sunset.reachable  # on the model's scenes, which start near z_dyn = 0
    # a photo whose sky is already warm: the same move toward the same target warms it by less
    photo = colour_model(own=torch.tensor([[0.2, 1.5, 0.0]]))
    before = float(promise.distance(_styled_change(photo, sunset.z_dyn, sunset.strength)))
    assert before > 3.0
    fit = C.fit_style_to_photo(photo, "sunset", sunset.z_dyn, sunset.strength, promise)
    assert fit.reachable and fit.distance < before / 2
    after = _styled_change(photo, fit.z_dyn, fit.strength)
    torch.testing.assert_close(after, torch.tensor(fit.change), atol=0.05, rtol=0)  # what it reports, it does
    assert after[2] == pytest.approx(15.0, abs=3.0)  # b* +15 on this photo
    # the search only moves where the photo gets closer: never farther than the model's own target
    scenes = colour_model()
    base_sky, base_land = C.sky_and_land_lab(scenes.unstyled)
    sky, land = C.sky_and_land_lab(scenes.render(torch.tensor([sunset.z_dyn]), torch.tensor([sunset.strength])))
    change = C.look_change(sky, land, base_sky, base_land)[0]  # per scene
    start = promise.distance(change, torch.stack([base_sky[:, 0], base_land[:, 0]], -1)).mean()
    kept = C.fit_style_to_photo(scenes, "sunset", sunset.z_dyn, sunset.strength, promise)
    assert kept.distance <= float(start) + 1e-4


def test_a_look_no_one_target_gives_every_scene_is_reachable_photo_by_photo():
    """Two scenes whose skies start far apart (a cold and a warm one): one target warms them unequally, so no single
    target gives both b* +15; searched on each scene alone, as the pipeline does on a photo, both get there."""
    scenes = colour_model(own=torch.tensor([[0.0, -1.5, 0.0], [0.0, 1.5, 0.0]]))
    promise = C.ColourChange(sky_db=15.0, tolerance=2.0)
    (sunset,) = C.calibrate_styles(scenes, 0.7, changes={"sunset": promise}).values()
    assert sunset.distance > promise.tolerance  # the one target
    assert sunset.photo_distance is not None and sunset.photo_distance <= promise.tolerance and sunset.reachable
    entry = C.calibrated_vocabulary({"sunset": sunset}).styles["sunset"]
    assert entry.reachable and S.StyleEntry.from_json("sunset", entry.to_json()).to_json() == entry.to_json()
    assert "photo_distance" in entry.to_json()
    # a look that no search reaches on any scene stays refused
    (pink,) = C.calibrate_styles(scenes, 0.7, changes={"pink": C.ColourChange(sky_da=60.0)}).values()
    assert not pink.reachable and pink.photo_distance > 20


def test_on_one_photo_a_lightness_ratio_counts_by_the_photos_own_lightness():
    night = C.ColourChange(sky_l_ratio=0.35, land_l_ratio=0.35)
    change = torch.tensor([0.35, 0.0, 0.0, 2.0])  # the sky as promised; near-black land at twice its lightness
    assert float(night.distance(change)) == pytest.approx(50 * 1.65)  # a typical picture: L* 50
    # land of L* 3 that went to 6 moved by 3 L*, and counts as far from a night as 3 * 1.65 L*
    assert float(night.distance(change, torch.tensor([60.0, 3.0]))) == pytest.approx(3 * 1.65)


def test_every_style_name_has_a_promise():
    assert list(C.COLOUR_CHANGES) == list(S.STYLE_TARGETS)
    assert C.COLOUR_CHANGES["deep_night"].describe() == "sky L* x0.35; land L* x0.35"


def test_a_change_the_model_cannot_make_is_unreachable():
    impossible = {"pink_sky": C.ColourChange(sky_da=60.0, tolerance=8.0)}  # z_dyn never moves a* that far
    (result,) = C.calibrate_styles(colour_model(), 0.7, changes=impossible).values()
    assert not result.reachable and result.distance > 20  # the warmest it gets is about a* +35
    vocabulary = C.calibrated_vocabulary({"pink_sky": result})
    assert vocabulary.reachable == () and vocabulary.choices == ()


def test_a_model_whose_z_dyn_does_nothing_reaches_no_change_of_light():
    inert = colour_model()
    still = C.StyleSamples(
        inert.unstyled, lambda targets, strengths: inert.unstyled.expand(len(targets), -1, -1, -1, -1)
    )
    results = C.calibrate_styles(still, 0.7)
    assert not results["deep_night"].reachable and not results["warm_sunset"].reachable
    assert results["blue_day"].reachable  # "keep the day look" needs no change


def _vocabulary_without(name: str) -> S.StyleVocabulary:
    entries = {key: S.StyleEntry(target, 0.6) for key, target in S.STYLE_TARGETS.items()}
    entries[name] = S.StyleEntry(S.STYLE_TARGETS[name], 0.6, reachable=False, distance=31.0)
    return S.StyleVocabulary(entries, source="calibrated")


def test_vocabulary_round_trips_through_pipeline_json():
    vocabulary = C.calibrated_vocabulary(C.calibrate_styles(colour_model(), 0.7))
    config = PipelineConfig(resolution=64, styles=vocabulary.to_json())
    loaded = PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict()))).style_vocabulary()
    assert loaded.to_json() == vocabulary.to_json() and loaded.source == "calibrated"
    assert loaded.reachable == vocabulary.reachable
    # no styles key: the authors' vocabulary, as for converted authors' weights and older files
    assert PipelineConfig().style_vocabulary().to_json() == S.StyleVocabulary.authors().to_json()
    with pytest.raises(ValueError, match="z_dyn"):
        PipelineConfig(styles={"names": {"deep_night": {"z_dyn": [1.0, 2.0]}}})


def test_unknown_and_unreachable_styles_give_clear_errors():
    vocabulary = _vocabulary_without("deep_night")
    with pytest.raises(S.UnreachableStyleError, match="'deep_night' is not reachable with this model.*blue_hour"):
        S.style_path("deep_night", vocabulary=vocabulary)
    with pytest.raises(ValueError, match="unknown style 'noon'.*warm_sunset") as error:
        S.style_path("noon", vocabulary=vocabulary)
    assert "deep_night" not in str(error.value)  # only what the model can render is offered
    assert "deep_night" not in vocabulary.choices and "day_cycle" in vocabulary.choices
    cycle = S.style_path("day_cycle", vocabulary=vocabulary)  # visits the 7 reachable styles and closes the loop
    assert len(cycle.conditions) == 8 and cycle.is_closed
    # a name's calibrated strength is its t, unless the caller sets one
    assert S.style_path("blue_hour", vocabulary=vocabulary).conditions[0, 3] == 0.6
    assert S.style_path("blue_hour", strength=0.3, vocabulary=vocabulary).conditions[0, 3] == 0.3


def test_pipeline_refuses_an_unreachable_style(tiny_app_model, tmp_path):
    pipe = DeepLandscapePipeline.from_pretrained(tiny_app_model)
    pipe.config.styles = _vocabulary_without("warm_sunset").to_json()
    with pytest.raises(S.UnreachableStyleError, match="warm_sunset"):
        pipe._validate_style("warm_sunset")
    pipe._validate_style("blue_hour")  # reachable names pass


def test_pipeline_fits_a_calibrated_style_to_the_photo_once_and_uses_the_authors_targets_as_given(
    tiny_app_model, monkeypatch
):
    from PIL import Image

    pipe = DeepLandscapePipeline.from_pretrained(tiny_app_model)
    pipe.set_progress_bar_config(disable=True)
    pipe.config.styles = _vocabulary_without("deep_night").to_json()
    photo = Image.new("RGB", (48, 40), (90, 140, 200))  # a blue sky over green land
    photo.paste((70, 110, 50), (0, 26, 48, 40))
    inverted = pipe.invert(photo, preset="fast", segmentation="heuristic", perceptual="none")
    searches = []
    fit = C.fit_style_to_photo

    def counted(*args, **kwargs):
        searches.append(args[1])
        return fit(*args, **kwargs)

    monkeypatch.setattr(C, "fit_style_to_photo", counted)
    first = pipe.animate(inverted, style="blue_hour", num_frames=2, frame_indices=[1], output_type="np").frames
    again = pipe.animate(inverted, style="blue_hour", num_frames=2, frame_indices=[1], output_type="np").frames
    assert searches == ["blue_hour"]  # the second video reuses the first one's search
    np.testing.assert_array_equal(first, again)
    [((name, model_condition), fitted)] = inverted.fitted_styles.items()
    assert name == "blue_hour" and model_condition == pytest.approx((*S.STYLE_TARGETS["blue_hour"], 0.6))
    assert fitted.shape == (4,) and 0.05 <= float(fitted[3]) <= 1.0
    # what the video shows is the fitted target: rendering it as a plain z_dyn + t gives the same frame
    plain = pipe.animate(inverted, style=[(0.0, fitted.tolist())], num_frames=2, frame_indices=[1], output_type="np")
    np.testing.assert_allclose(plain.frames, first, atol=1e-6)
    # the path's keyframes are fitted one by one (blue_hour's search is reused); the authors' vocabulary and a
    # switched-off fit search nothing
    pipe.animate(inverted, style="day_cycle", num_frames=3, frame_indices=[1])
    assert sorted(searches) == sorted(name for name in S.STYLE_TARGETS if name != "deep_night")
    pipe.config.fit_styles_to_photo = False
    pipe.animate(inverted, style="warm_sunset", num_frames=2, frame_indices=[1])
    pipe.config.fit_styles_to_photo, pipe.config.styles = True, None
    pipe.animate(inverted, style="deep_night", num_frames=2, frame_indices=[1])
    assert len(searches) == 7
    # a look this photo cannot reach in this model is rendered as near as it gets, with a warning that says so
    pipe.config.styles = _vocabulary_without("deep_night").to_json()
    monkeypatch.setitem(C.COLOUR_CHANGES, "bright_day", C.ColourChange(sky_l_ratio=10.0))  # past white
    inverted.fitted_styles.clear()  # searched above against the real promise
    with pytest.warns(UserWarning, match="'bright_day' gets this photo only to within"):
        pipe.animate(inverted, style="bright_day", num_frames=2, frame_indices=[1])


def test_calibrate_styles_command_writes_the_models_vocabulary(tiny_app_model, tmp_path, capsys, monkeypatch):
    import shutil

    two = {name: C.COLOUR_CHANGES[name] for name in ("blue_day", "deep_night")}  # two names keep the test short
    monkeypatch.setattr(C, "COLOUR_CHANGES", two)
    model = shutil.copytree(tiny_app_model, tmp_path / "model")
    before = json.loads((model / "pipeline.json").read_text())
    before.pop("styles", None)
    assert cli_main(["calibrate-styles", str(model), "--samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "| deep_night |" in printed and "distance / tolerance" in printed
    after = json.loads((model / "pipeline.json").read_text())
    assert {key: value for key, value in after.items() if key != "styles"} == before  # other keys kept
    names = after["styles"]["names"]
    assert list(names) == list(two) and after["styles"]["source"] == "calibrated"
    assert all(len(entry["z_dyn"]) == 3 and 0 < entry["strength"] <= 1 for entry in names.values())
    offered = DeepLandscapePipeline.from_pretrained(model).config.style_vocabulary().reachable
    assert offered == tuple(name for name, entry in names.items() if entry["reachable"])
    assert not list(model.glob(".*"))  # written atomically: no temporary file left


def test_calibrate_styles_command_needs_network_a(tmp_path, capsys):
    assert cli_main(["calibrate-styles", str(tmp_path)]) == 2
    assert "no dynamics/ folder" in capsys.readouterr().err


def test_cli_help_lists_what_the_bundled_model_offers():
    from deeplandscape_hf import vocabulary

    assert vocabulary.offered_styles(None) == vocabulary.STYLE_NAMES  # no vocabulary: the authors', all names
    only_two = {"names": {"blue_day": {"z_dyn": [0, 0, 0]}, "deep_night": {"z_dyn": [1, 0, 0], "reachable": False}}}
    assert vocabulary.offered_styles(only_two) == ("blue_day",)  # one reachable style makes no day cycle
    bundled = json.loads((vocabulary._BUNDLED_PIPELINE_JSON).read_text()).get("styles")
    assert vocabulary.bundled_model_styles() == vocabulary.offered_styles(bundled)
    assert S.StyleVocabulary.from_json(bundled).choices == vocabulary.bundled_model_styles()


def test_calibration_stands_in_the_daylit_scenes_for_photos():
    """The stand-in photos are the brightest skies of a pool four times as large (photos are mostly taken by day);
    styling them moves the very scenes that were picked."""
    from test_pipeline import build_models

    generator, _, dynamics = build_models()
    samples = C.generator_style_samples(generator, dynamics, samples=3, seed=5)
    pool = 3 * C.DAYLIGHT_POOL
    random = torch.Generator().manual_seed(5)  # the same draws, in the same order, as the function's
    z = torch.randn(pool, generator.config.z_dim, generator=random)
    static, dynamic = generator.make_noise(pool, generator=random)
    with torch.no_grad():
        scenes = generator.synthesize(generator.broadcast_w(generator.truncate(generator.map(z), 0.7)), static, dynamic)
    sky = C.sky_and_land_lab(scenes)[0][:, 0]
    picked = sky.argsort(descending=True)[:3]
    torch.testing.assert_close(samples.unstyled, scenes[picked])
    assert C.sky_and_land_lab(samples.unstyled)[0][:, 0].min() >= sky.median()
    styled = samples.render(torch.tensor([[1.0, 2.0, -1.0], [0.0, 0.0, 0.0]]), torch.tensor([0.8, 0.3]))
    assert styled.shape == (2, *samples.unstyled.shape) and not torch.allclose(styled[0], styled[1])


def _bundled_pipeline() -> DeepLandscapePipeline:
    from deeplandscape_hf.networks.hub import DEFAULT_MODEL_DIR

    pipe = DeepLandscapePipeline.from_pretrained(DEFAULT_MODEL_DIR)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _example_photo(name: str, width: int = 384):
    from pathlib import Path

    from PIL import Image

    photo = Image.open(Path(__file__).resolve().parents[1] / "examples" / f"{name}.jpg").convert("RGB")
    return photo.resize((width, round(width * photo.height / photo.width)))


def _sky_and_land(image) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean CIELAB of the top and bottom quarter of a PIL image."""
    return C.sky_and_land_lab(torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1))


def test_the_bundled_model_darkens_a_real_photo_at_night_warms_it_at_sunset_and_keeps_it_by_day():
    """What the bundled model offers is what a viewer gets: on an example photo, deep_night darkens sky and land to
    at most half, warm_sunset warms the sky (CIELAB a* +4 and b* +12 or more), and blue_day keeps the sky's colour
    (dE <= 15), in the last frame of a fast animation."""
    pipe = _bundled_pipeline()
    offered = pipe.config.style_vocabulary().reachable
    assert {"deep_night", "warm_sunset", "blue_day"} <= set(offered)
    photo = _example_photo("castle_hills_01")
    inverted = pipe.invert(photo, preset="fast", segmentation="heuristic", perceptual="none")
    base_sky, base_land = _sky_and_land(photo)
    night = pipe.animate(inverted, style="deep_night", num_frames=3, frame_indices=[2]).frames[-1]
    sky, land = _sky_and_land(night)
    assert sky[0] <= 0.5 * base_sky[0] and land[0] <= 0.5 * base_land[0]
    sunset = pipe.animate(inverted, style="warm_sunset", num_frames=3, frame_indices=[2]).frames[-1]
    warmer = _sky_and_land(sunset)[0] - base_sky
    assert warmer[1] >= 4 and warmer[2] >= 12
    day = pipe.animate(inverted, style="blue_day", num_frames=3, frame_indices=[2]).frames[-1]
    assert float((_sky_and_land(day)[0] - base_sky).norm()) <= 15


@pytest.mark.parametrize("name", ["hills_fog_01", "sky_kite_01"])
def test_the_bundled_models_sunset_warms_a_pale_and_a_deep_blue_sky_alike(name):
    """Network A moves every photo toward one sunset; without the fit to the photo a hazy pale sky (b* +6.6) and a
    deep blue one (b* +2.3) gained too little yellow, where a mid-blue sky gained +21."""
    pipe = _bundled_pipeline()
    photo = _example_photo(name)
    inverted = pipe.invert(photo, preset="fast", segmentation="heuristic", perceptual="none")
    sunset = pipe.animate(inverted, style="warm_sunset", num_frames=3, frame_indices=[2]).frames[-1]
    warmer = _sky_and_land(sunset)[0] - _sky_and_land(photo)[0]
    assert warmer[1] >= 4 and warmer[2] >= 12
