import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeplandscape_hf.networks.dynamics import DynamicsConfig, StyleDynamicsNet, dynamics_loss, sample_dynamics_batch

W_DIM = 16


def tiny_net(seed: int = 0) -> StyleDynamicsNet:
    torch.manual_seed(seed)
    return StyleDynamicsNet(DynamicsConfig(w_dim=W_DIM, z_dynamic_dim=3, depth=2))


def randn(*shape: int, seed: int = 5) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_official_size():
    net = StyleDynamicsNet(DynamicsConfig())
    assert net.config.input_dim == 516
    # 10 blocks x 2 x Linear(516, 516) + Linear(516, 512); the LayerNorm has no affine parameters
    assert sum(p.numel() for p in net.parameters()) == 10 * 2 * (516 * 516 + 516) + 516 * 512 + 512 == 5_600_144
    assert list(net.state_dict())[:4] == [
        "blocks.0.fc1.weight",
        "blocks.0.fc1.bias",
        "blocks.0.fc2.weight",
        "blocks.0.fc2.bias",
    ]


def test_shapes_and_strength_forms():
    net = tiny_net()
    w, z = randn(5, W_DIM), randn(5, 3, seed=6)
    t = torch.full((5,), 0.7)
    with torch.no_grad():
        out = net(w, z, t)
        assert out.shape == (5, W_DIM)
        assert torch.equal(net(w, z, t[:, None]), out)
        assert torch.equal(net(w, z, 0.7), out)
        assert torch.equal(net(w, z[0], t), net(w, z[0].expand(5, 3), t))  # one target for all
        assert not torch.allclose(net(w, z, 0.0), out)  # no constraint at t = 0: the network learns it


def test_w_plus_is_moved_per_level_with_broadcast_targets():
    net = tiny_net()
    w_plus, z = randn(2, 4, W_DIM), randn(2, 3, seed=6)
    t = torch.tensor([0.3, 0.9])
    with torch.no_grad():
        out = net(w_plus, z, t)
        assert out.shape == (2, 4, W_DIM)
        for level in range(4):
            torch.testing.assert_close(out[:, level], net(w_plus[:, level], z, t))
        per_entry = torch.rand(2, 4, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(
            net(w_plus, z, per_entry)[1, 2], net(w_plus[1, 2][None], z[1][None], per_entry[1, 2])[0]
        )


def test_residual_structure_and_input_order():
    net = tiny_net()
    with torch.no_grad():
        for block in net.blocks:
            block.fc2.weight.zero_()
            block.fc2.bias.zero_()
        w, z = randn(3, W_DIM), randn(3, 3, seed=6)
        x = torch.cat([w, z, torch.full((3, 1), 0.5)], dim=1)  # official input [w, z_target, t]
        torch.testing.assert_close(net(w, z, 0.5), F.linear(x, net.out.weight, net.out.bias), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("w", "z", "t", "match"),
    [
        (torch.zeros(3, W_DIM + 1), torch.zeros(3, 3), 0.5, "w must have shape"),
        (torch.zeros(W_DIM), torch.zeros(3), 0.5, "w must have shape"),
        (torch.zeros(3, W_DIM), torch.zeros(3, 4), 0.5, "z_target"),
        (torch.zeros(3, W_DIM), torch.zeros(2, 3), 0.5, "z_target"),
        (torch.zeros(3, W_DIM), torch.zeros(3, 3), torch.zeros(2), "strength"),
    ],
)
def test_input_checks(w, z, t, match):
    with pytest.raises(ValueError, match=match):
        tiny_net()(w, z, t)


def test_loss_is_zero_at_the_target_and_matches_hand_values():
    w1, w2 = randn(4, W_DIM), randn(4, W_DIM, seed=9)
    assert dynamics_loss(w2.clone(), w1, w2).item() == pytest.approx(0.0, abs=1e-6)
    e1 = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    zero = torch.zeros(1, 4)
    # overshoot along the right direction: L1 terms 10 * 1/4 each, cosine term 0
    assert dynamics_loss(2 * e1, zero, e1).item() == pytest.approx(5.0)
    # opposite direction: L1 terms 10 * 2/4 each, 1 - cos = 2
    assert dynamics_loss(-e1, zero, e1).item() == pytest.approx(12.0)
    with pytest.raises(ValueError, match="one shape"):
        dynamics_loss(e1, zero, torch.zeros(2, 4))


def test_gradient_flows_to_every_parameter():
    net = tiny_net()
    w1, z_far, t, w2 = sample_dynamics_batch(
        nn.Linear(8, W_DIM), 6, z_dim=8, generator=torch.Generator().manual_seed(0)
    )
    dynamics_loss(net(w1, z_far, t), w1, w2).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_sample_dynamics_batch_follows_the_authors_recipe():
    calls = []

    def identity_mapping(z: torch.Tensor) -> torch.Tensor:
        calls.append(z.shape)
        return z.clone()

    w1, z_far, t, w2 = sample_dynamics_batch(identity_mapping, 5, z_dim=10, z_dynamic_dim=3,
                                             generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert calls == [torch.Size([10, 10])]  # both halves in one pass through M
    assert w1.shape == w2.shape == (5, 10) and z_far.shape == (5, 3) and t.shape == (5,)
    assert torch.all(t == t[0]) and 0 < t[0] < 1  # one t per batch
    assert torch.equal(w1[:, :7], w2[:, :7])  # z_st shared
    expected_z2 = (1 - t[0]).sqrt() * w1[:, 7:] + t[0].sqrt() * z_far
    torch.testing.assert_close(w2[:, 7:], expected_z2, rtol=0, atol=0)
    again = sample_dynamics_batch(identity_mapping, 5, z_dim=10, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(again, (w1, z_far, t, w2)))


def test_sample_dynamics_batch_keeps_the_mapping_frozen():
    mapping = nn.Linear(8, 4)
    w1, _, _, w2 = sample_dynamics_batch(mapping, 3, z_dim=8, z_dynamic_dim=3)
    assert not w1.requires_grad and not w2.requires_grad
    with pytest.raises(ValueError, match="z_dynamic_dim"):
        sample_dynamics_batch(mapping, 3, z_dim=3, z_dynamic_dim=3)


def test_config_validation():
    for kwargs in ({"w_dim": 0}, {"z_dynamic_dim": -1}, {"depth": 1.5}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            DynamicsConfig(**kwargs)
