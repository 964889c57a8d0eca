"""Hub round trips of every network (save / load / subfolders / the uploaded layout) and the network probe.

Nothing here reaches the internet: uploads land in a local folder that a stand-in ``snapshot_download`` serves from,
and the probe is pointed at local ports that refuse or never answer.
"""

import json
import logging
import shutil
import socket
import time
import types
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
import torchvision
from huggingface_hub import HfApi, constants
from huggingface_hub.utils import filter_repo_objects
from safetensors.torch import load_file, save_file
from torch import nn

from deeplandscape_hf.networks import encoder as encoder_module
from deeplandscape_hf.networks import hub
from deeplandscape_hf.networks.discriminator import DiscriminatorConfig, ImageDiscriminator, PairwiseDiscriminator
from deeplandscape_hf.networks.dynamics import DynamicsConfig, StyleDynamicsNet
from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder, EncoderConfig
from deeplandscape_hf.networks.generator import DeepLandscapeGenerator, GeneratorConfig
from deeplandscape_hf.networks.hub import PAPER_URL, ModelNotFoundError, clean_state_dict, unwrap_model


def _generator():
    config = GeneratorConfig(resolution=16, channels=[16, 16, 8], z_dim=16, w_dim=16, mapping_layers=2)
    model = DeepLandscapeGenerator(config)
    static, dynamic = model.make_noise(2, generator=torch.Generator().manual_seed(1))
    return model, (torch.randn(2, 16), static, dynamic)


def _image_d():
    return ImageDiscriminator(DiscriminatorConfig(resolution=16, channels=[16, 16, 8])), torch.randn(2, 3, 16, 16)


def _pairwise_d():
    model = PairwiseDiscriminator(DiscriminatorConfig(resolution=16, channels=[16, 16, 8], frames=2))
    return model, torch.randn(2, 2, 3, 16, 16)


def _encoder():
    config = EncoderConfig(backbone="resnet18", num_levels=2, hidden=16, pretrained_backbone=False, image_size=32)
    return DeepLandscapeEncoder(config), torch.rand(1, 3, 32, 32) * 2 - 1


def _dynamics():
    model = StyleDynamicsNet(DynamicsConfig(w_dim=8, depth=2))
    return model, (torch.randn(3, 8), torch.randn(3, 3), torch.rand(3))


# name -> (factory, subfolder in the published repository layout)
MODELS = {
    "generator": (_generator, "generator"),
    "image_d": (_image_d, "discriminators/image"),
    "pairwise_d": (_pairwise_d, "discriminators/pairwise"),
    "encoder": (_encoder, "encoder"),
    "dynamics": (_dynamics, "dynamics"),
}


@pytest.fixture(params=list(MODELS))
def model_and_input(request):
    torch.manual_seed(0)
    factory, subfolder = MODELS[request.param]
    model, example = factory()
    return model.eval(), example, subfolder


def _run(model: nn.Module, example) -> torch.Tensor:
    with torch.no_grad():
        return model(*example) if isinstance(example, tuple) else model(example)


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_a)


def test_round_trip_is_bit_exact(model_and_input, tmp_path):
    model, example, _ = model_and_input
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path)
    assert type(loaded.config) is type(model.config) and loaded.config == model.config
    _assert_same_weights(model, loaded)
    assert not loaded.training
    assert torch.equal(_run(loaded, example), _run(model, example))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_round_trip_from_a_subfolder(model_and_input, tmp_path):
    model, _, subfolder = model_and_input
    model.save_pretrained(tmp_path / subfolder)
    loaded = type(model).from_pretrained(tmp_path, subfolder=subfolder)
    _assert_same_weights(model, loaded)
    assert loaded.config == model.config


def test_config_json_holds_the_dataclass(model_and_input, tmp_path):
    model, _, _ = model_and_input
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved == asdict(model.config)


def test_wrong_shape_in_checkpoint_names_the_key(model_and_input, tmp_path):
    model, _, _ = model_and_input
    model.save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    key = next(k for k, v in weights.items() if v.dim() >= 2)
    weights[key] = torch.zeros(weights[key].shape[0] + 1, *weights[key].shape[1:])
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        type(model).from_pretrained(tmp_path)


def test_missing_key_is_an_error_not_a_random_layer(model_and_input, tmp_path):
    model, _, _ = model_and_input
    model.save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    key = sorted(weights)[-1]
    del weights[key]
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="missing keys"):
        type(model).from_pretrained(tmp_path)


def test_model_card_metadata(model_and_input, tmp_path):
    model, _, _ = model_and_input
    card = model.generate_model_card()
    assert card.data.library_name == "deeplandscape-hf"
    assert card.data.pipeline_tag == "image-to-video"
    assert card.data.license == "mit"
    assert "image-to-video" in card.data.tags
    assert PAPER_URL == "https://arxiv.org/abs/2008.09655" and PAPER_URL in str(card)
    model.save_pretrained(tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert "library_name: deeplandscape-hf" in readme and PAPER_URL in readme


def test_compiled_model_saves_plain_keys(model_and_input, tmp_path):
    model, _, _ = model_and_input
    torch.compile(model).save_pretrained(tmp_path / "whole")  # lazy: nothing is compiled until it runs
    assert set(load_file(str(tmp_path / "whole" / "model.safetensors"))) == set(model.state_dict())

    # A compiled submodule puts "_orig_mod." inside the keys; the saved file must not have it.
    name, child = next(iter(model.named_children()))
    setattr(model, name, torch.compile(child))
    assert any("_orig_mod." in key for key in model.state_dict())
    model.save_pretrained(tmp_path / "part")
    setattr(model, name, child)
    _assert_same_weights(model, type(model).from_pretrained(tmp_path / "part"))


def test_data_parallel_wrapper_is_unwrapped(model_and_input, tmp_path):
    model, _, _ = model_and_input
    wrapped = nn.DataParallel(model)  # on CPU it only wraps: same keys as DDP, "module." in front
    assert unwrap_model(wrapped) is model
    assert list(clean_state_dict(wrapped.state_dict())) == list(model.state_dict())
    unwrap_model(wrapped).save_pretrained(tmp_path)
    _assert_same_weights(model, type(model).from_pretrained(tmp_path))


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """Uploads land in a local folder per repository; ``snapshot_download`` copies from it what the hub would."""
    remote = tmp_path / "remote"

    def create_repo(self, repo_id, **kwargs):
        return types.SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        shutil.copytree(folder_path, remote / repo_id, dirs_exist_ok=True)
        return f"https://huggingface.co/{repo_id}/commit/0"

    def snapshot_download(*, repo_id, allow_patterns, **kwargs):
        source, snapshot = remote / repo_id, tmp_path / "snapshots" / repo_id
        names = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
        for name in filter_repo_objects(names, allow_patterns=allow_patterns):  # the hub client's own filter
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / name, snapshot / name)
        return str(snapshot)

    monkeypatch.setattr(HfApi, "create_repo", create_repo)  # the mixin builds HfApi() itself: patch the class
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(hub, "snapshot_download", snapshot_download)
    return types.SimpleNamespace(remote=remote, snapshots=tmp_path / "snapshots")


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_push_to_hub_uploads_a_folder_that_loads_by_repo_id(model_and_input, fake_hub):
    model, example, _ = model_and_input
    url = model.push_to_hub("someone/deeplandscape-test")
    assert url == "https://huggingface.co/someone/deeplandscape-test/commit/0"
    uploaded = fake_hub.remote / "someone/deeplandscape-test"
    assert _files(uploaded) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((uploaded / "config.json").read_text()) == asdict(model.config)
    loaded = type(model).from_pretrained("someone/deeplandscape-test")
    assert loaded.config == model.config
    _assert_same_weights(model, loaded)
    assert torch.equal(_run(loaded, example), _run(model, example))


def test_one_repository_holds_every_component_in_its_subfolder(fake_hub, tmp_path):
    """The layout train_accelerate.py uploads: one folder per component; each loads alone, locally and by id."""
    torch.manual_seed(0)
    models = {subfolder: factory()[0] for factory, subfolder in MODELS.values()}
    for subfolder, model in models.items():
        model.save_pretrained(tmp_path / "repo" / subfolder)
    HfApi().upload_folder(repo_id="someone/all-parts", folder_path=tmp_path / "repo")
    for subfolder, model in models.items():
        for source in (tmp_path / "repo", "someone/all-parts"):
            loaded = type(model).from_pretrained(source, subfolder=subfolder)
            assert loaded.config == model.config
            _assert_same_weights(model, loaded)
        fetched = _files(fake_hub.snapshots / "someone/all-parts")
        assert all(name.startswith(("generator/", "discriminators/", "encoder/", "dynamics/")) for name in fetched)
    with pytest.raises(ModelNotFoundError, match="no subfolder 'mapping'"):
        DeepLandscapeGenerator.from_pretrained(tmp_path / "repo", subfolder="mapping")


def test_the_bundled_model_loads_whole_by_repo_id_and_a_generator_fetches_only_its_own_files(fake_hub, tmp_path):
    """Its encoder is split into shards (under the hub's per-file limit): they must load by id as from the folder.
    A generator alone fetches the repository's root files, not the encoder and discriminators beside it."""
    from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline

    HfApi().upload_folder(repo_id="someone/whole", folder_path=hub.DEFAULT_MODEL_DIR)
    HfApi().upload_folder(repo_id="someone/generator", folder_path=hub.DEFAULT_MODEL_DIR)
    assert len(hub.weight_files(hub.DEFAULT_MODEL_DIR / "encoder")) > 1  # what this test is about
    pipe = DeepLandscapePipeline.from_pretrained("someone/whole")
    assert pipe.encoder is not None and pipe.dynamics is not None
    DeepLandscapeGenerator.from_pretrained("someone/generator")
    assert all("/" not in name for name in _files(fake_hub.snapshots / "someone/generator"))
    # an encoder that is there in part is an error, not a model without an encoder
    HfApi().upload_folder(repo_id="someone/cut-short", folder_path=hub.DEFAULT_MODEL_DIR)
    (fake_hub.remote / "someone/cut-short/encoder/model-00002-of-00004.safetensors").unlink()
    with pytest.raises(hub.IncompleteModelError, match="lacks weight shard.s. 2 of 4"):
        DeepLandscapePipeline.from_pretrained("someone/cut-short")


def test_incomplete_or_mixed_weight_shards_are_named(model_and_input, tmp_path):
    model = model_and_input[0]
    model.save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    (tmp_path / "model.safetensors").unlink()
    names = sorted(weights)
    for index, part in enumerate((names[::2], names[1::2]), start=1):
        save_file({name: weights[name] for name in part}, str(tmp_path / f"model-0000{index}-of-00002.safetensors"))
    _assert_same_weights(model, type(model).from_pretrained(tmp_path))  # a complete set loads
    save_file({names[0]: weights[names[0]]}, str(tmp_path / "model-00001-of-00001.safetensors"))
    with pytest.raises(ModelNotFoundError, match="shards of 2 different splits"):
        type(model).from_pretrained(tmp_path)
    (tmp_path / "model-00001-of-00001.safetensors").unlink()
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="lacks weight shard.s. 2 of 2"):
        type(model).from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(hub.CheckpointMismatchError, match="config.json' is not valid JSON"):
        type(model).from_pretrained(tmp_path)


# ----------------------------------------------------------------------------------------------------------------------
# Default constructors: the paper-sized networks, built with no arguments


@pytest.fixture
def stand_in_imagenet_trunk(monkeypatch):
    """The encoder's default trunk starts from ImageNet weights; offline, a random torchvision ResNet stands in."""
    loads = []

    def random_trunk(name):
        loads.append(name)
        return getattr(torchvision.models, name)().state_dict()

    monkeypatch.setattr(encoder_module, "_imagenet_state_dict", random_trunk)
    return loads


DEFAULTS = {  # class -> the config its default constructor must build and save
    DeepLandscapeGenerator: GeneratorConfig(),
    ImageDiscriminator: DiscriminatorConfig(),
    PairwiseDiscriminator: DiscriminatorConfig(frames=2),
    DeepLandscapeEncoder: EncoderConfig(),
    StyleDynamicsNet: DynamicsConfig(),
}


@pytest.mark.parametrize("cls", list(DEFAULTS), ids=lambda cls: cls.__name__)
def test_default_constructor_round_trips(cls, tmp_path, stand_in_imagenet_trunk):
    torch.manual_seed(0)
    model = cls()
    assert model.config == DEFAULTS[cls]
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == asdict(DEFAULTS[cls])
    loaded = cls.from_pretrained(tmp_path)
    assert type(loaded.config) is type(model.config) and loaded.config == model.config
    _assert_same_weights(model, loaded)
    assert stand_in_imagenet_trunk == (["resnet152"] if cls is DeepLandscapeEncoder else [])  # loading: none


def test_default_model_saved_with_push_to_hub_loads_by_repo_id(fake_hub, tmp_path):
    model = StyleDynamicsNet()  # no config argument: the mixin alone would upload no config.json
    model.save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="someone/dynamics")
    assert _files(tmp_path / "local") == _files(fake_hub.remote / "someone/dynamics")
    loaded = StyleDynamicsNet.from_pretrained("someone/dynamics")
    assert loaded.config == DynamicsConfig()
    _assert_same_weights(model, loaded)


def test_encoder_loading_never_fetches_imagenet_weights(tmp_path, monkeypatch):
    def no_download(url, *args, **kwargs):
        raise AssertionError(f"from_pretrained tried to download {url}")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    model, example = _encoder()
    published = replace(model.config, pretrained_backbone=True)  # trained from ImageNet weights
    model.save_pretrained(tmp_path / "encoder", config=published)
    loaded = DeepLandscapeEncoder.from_pretrained(tmp_path, subfolder="encoder")
    assert loaded.config == published and loaded.config.pretrained_backbone
    _assert_same_weights(model, loaded)
    loaded.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["pretrained_backbone"] is True


# ----------------------------------------------------------------------------------------------------------------------
# Network probe: an unreachable network costs seconds, not minutes


PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def fresh_probes(monkeypatch):
    """Probe answers are kept for the whole process: each test starts without any, and without the environment's
    proxies (the probe would otherwise test the proxy instead of the local ports below)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    hub.probe_host.cache_clear()
    yield
    hub.probe_host.cache_clear()


@pytest.fixture
def refused_port():
    """A local port that refuses connections at once (bound, not listening), like a host with nothing behind it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        yield server.getsockname()[1]


@pytest.fixture
def silent_port():
    """A local port that never answers, like a network that drops packets: its accept queue (one slot) is kept
    full, so the kernel ignores further connection requests."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        with socket.create_connection(server.getsockname(), timeout=1):
            try:
                socket.create_connection(server.getsockname(), timeout=0.2).close()
            except TimeoutError:
                yield server.getsockname()[1]
            else:
                pytest.skip("this kernel accepts connections beyond a full accept queue")


@pytest.fixture
def network_expected(monkeypatch):
    """HF_HUB_OFFLINE unset, as for a user who did not know the machine has no network; probes time out after 1 s."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "NETWORK_PROBE_TIMEOUT_S", 1.0)


def test_probe_says_no_at_once_to_a_refused_port(refused_port):
    start = time.perf_counter()
    assert hub.network_reachable(f"http://127.0.0.1:{refused_port}/model.safetensors", timeout=5.0) is False
    assert time.perf_counter() - start < 1.0


def test_probe_gives_up_on_a_silent_host_after_its_timeout_and_says_what_it_waits_for(silent_port, caplog):
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="deeplandscape_hf.networks.hub"):
        assert hub.network_reachable(f"https://127.0.0.1:{silent_port}/x", timeout=1.0) is False
    assert 0.9 < time.perf_counter() - start < 2.0
    assert f"Checking whether 127.0.0.1:{silent_port} can be reached" in caplog.text
    assert "HF_HUB_OFFLINE=1" in caplog.text


def test_probe_connects_once_per_host_and_port(refused_port, monkeypatch):
    attempts = []
    connect = socket.create_connection

    def counting(address, *args, **kwargs):
        attempts.append(address)
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(hub.socket, "create_connection", counting)
    for path in ("/vgg19.pth", "/resnet152.pth", "/vgg19.pth"):
        assert hub.network_reachable(f"http://127.0.0.1:{refused_port}{path}", timeout=1.0) is False
    assert attempts == [("127.0.0.1", refused_port)]


def test_probe_goes_to_the_configured_proxy(refused_port, monkeypatch):
    with socket.socket() as server:  # listening: the url's own host answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/x"
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{refused_port}")
        assert hub.network_reachable(url, timeout=1.0) is False  # downloads would go through the dead proxy
        hub.probe_host.cache_clear()
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        assert hub.network_reachable(url, timeout=1.0) is True


def test_hub_id_with_the_hub_silent_fails_within_seconds_and_says_how_to_fix(
    network_expected, silent_port, monkeypatch, tmp_path
):
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{silent_port}")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        DeepLandscapeGenerator.from_pretrained("someone/not-cached", cache_dir=tmp_path)
    assert time.perf_counter() - start < 3.0  # 1 s probe; the download clients alone retry for minutes
    message = str(info.value)
    assert f"http://127.0.0.1:{silent_port} cannot be reached" in message
    assert "not in the local cache" in message and "hf download someone/not-cached" in message
    assert "HF_HUB_OFFLINE=1" in message


def test_hub_id_with_the_hub_unreachable_loads_the_cached_copy(
    network_expected, refused_port, monkeypatch, tmp_path, caplog
):
    model, _ = _generator()
    commit = "0123456789abcdef0123456789abcdef01234567"
    repository = tmp_path / "models--someone--cached"  # the hub cache layout snapshot_download reads offline
    model.save_pretrained(repository / "snapshots" / commit)
    (repository / "refs").mkdir()
    (repository / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{refused_port}")
    with caplog.at_level(logging.WARNING, logger="deeplandscape_hf.networks.hub"):
        loaded = DeepLandscapeGenerator.from_pretrained("someone/cached", cache_dir=tmp_path)
    assert "looking for 'someone/cached' in the local cache only" in caplog.text
    _assert_same_weights(model, loaded)


def test_segmenter_with_the_hub_silent_falls_back_to_the_heuristic_within_seconds(
    network_expected, silent_port, monkeypatch
):
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation  # noqa: F401 - import outside timing

    from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline, PipelineConfig

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{silent_port}")
    generator, _ = _generator()
    pipe = DeepLandscapePipeline(generator, config=PipelineConfig(segmenter="someone/not-cached-segmenter"))
    photo = Image.new("RGB", (48, 40), (120, 170, 230))
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="The segmentation model could not be loaded") as caught:
        result = pipe.segment(photo, segmentation="auto")
    assert time.perf_counter() - start < 5.0  # 1 s probe, then cache lookups
    assert "cannot be reached" in str(caught[0].message)
    assert result.dynamic_mask.shape == (40, 48)  # the heuristic answered
