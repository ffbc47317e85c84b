"""inspect: CAMs equal the network's own maps, boxes equal receptive fields, sparsity is counted on
real Fashion-MNIST images, dense prediction scores items where they are."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from onebyone.data import FASHION_MNIST_DIR, load_fashion_mnist
from onebyone.errors import OneByOneError
from onebyone.insight import (
    capture_activations,
    class_activation_maps,
    compose_scenes,
    dense_prediction,
    measure_sparsity,
    relu_layers,
    strongest_unit_box,
)
from onebyone.models import create_model
from onebyone.profiling import profile

needs_data = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)


@pytest.fixture(scope="module")
def test_items():
    """The first 96 Fashion-MNIST test images (uint8) and labels."""
    test = load_fashion_mnist(split="test")
    return test.images[:96], test.labels[:96]


def _nin(**overrides) -> nn.Module:
    torch.manual_seed(0)
    return create_model("nin-fashion", width=0.25, **overrides).eval()


def test_cam_of_a_nin_is_its_last_pointwise_output():
    model = _nin()
    images = torch.randn(3, 1, 28, 28)
    last_relu = relu_layers(model)[-1]
    assert last_relu == "features.stage3.pointwise2.act"
    maps = class_activation_maps(model, images)
    assert_close(maps, capture_activations(model, images, [last_relu])[last_relu])
    with torch.no_grad():
        assert_close(maps.mean((2, 3)), model(images))  # GAP of the maps is the logits


def test_cam_of_gap_plus_linear_is_the_linear_layer_at_every_position():
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=5).eval()
    images = torch.randn(2, 3, 64, 64)
    maps = class_activation_maps(model, images)
    features = capture_activations(model, images, ["layer4"])["layer4"]  # (2, 512, 2, 2)
    expected = (
        torch.einsum("kc,nchw->nkhw", model.head.fc.weight, features) + model.head.fc.bias[:, None, None]
    )
    assert_close(maps, expected, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        assert_close(maps.mean((2, 3)), model(images), rtol=1e-4, atol=1e-5)


def test_cam_refuses_an_fc_head_and_names_the_flatten():
    with pytest.raises(OneByOneError, match="no global-average-pooling head.*flattens a 32×7×7 map"):
        class_activation_maps(_nin(head="fc"), torch.randn(1, 1, 28, 28))


def test_cam_of_a_converted_gap_network_is_its_class_maps_and_a_converted_fc_head_is_refused():
    """`convert fc2conv` writes a GraphModule ending in vector_if_single_cell (branching on shapes):
    it traces again, so a converted GAP + linear network keeps its CAM and a converted FC head is refused
    in one line naming its whole-map conv (torch.fx's TraceError before)."""
    from onebyone.surgery import fc_to_conv

    torch.manual_seed(0)
    gap = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 5)).eval()  # fmt: skip
    images = torch.randn(2, 3, 16, 16)
    maps = class_activation_maps(fc_to_conv(gap, (3, 16, 16)).eval(), images)
    assert_close(maps, class_activation_maps(gap, images))
    with torch.no_grad():
        assert_close(maps.mean((2, 3)), gap(images))
    converted = fc_to_conv(_nin(head="fc"), (1, 28, 28)).eval()
    with pytest.raises(OneByOneError, match=r"head\.fc \(Conv2d\) is a 7×7 conv over the whole 32×7×7 map"):
        class_activation_maps(converted, torch.randn(1, 1, 28, 28))


def _two_layer_net() -> nn.Module:
    """conv3 (pad 1) → average pool 2 → conv3 (pad 1): field 8×8, stride 2, first centre at 0.5."""
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(2, 3, 3, padding=1)
    )
    for conv in (net[0], net[3]):
        nn.init.constant_(conv.weight, 0.1)  # positive weights: every pixel of the field counts
        nn.init.zeros_(conv.bias)
    return net.eval()


def test_box_of_the_strongest_unit_is_the_profiled_field_and_the_gradient_support():
    net = _two_layer_net()
    image = torch.zeros(1, 1, 16, 16)
    image[0, 0, 9:11, 5:7] = 1.0  # a bright patch: the strongest units see it
    box = strongest_unit_box(net, image, "3")
    field = profile(net, (1, 1, 16, 16)).row("3").receptive_field
    axis_y, axis_x = field["axes"]
    assert box.field_size == (8.0, 8.0) == (axis_y["size"], axis_x["size"])
    assert box.stride == (2.0, 2.0)
    assert box.centre == (0.5 + 2 * box.y, 0.5 + 2 * box.x)
    assert box.box == (box.centre[0] - 3.5, box.centre[1] - 3.5, box.centre[0] + 3.5, box.centre[1] + 3.5)
    # independently: the input pixels the unit depends on are exactly the (clipped) box
    x = torch.rand(1, 1, 16, 16, requires_grad=True)
    net(x)[0, box.channel, box.y, box.x].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    top, left, bottom, right = box.clipped_box  # whole pixels here: centre ± 3.5 with centre at k + 0.5
    assert (rows.min().item(), rows.max().item()) == (top, bottom)
    assert (cols.min().item(), cols.max().item()) == (left, right)
    assert box.value == pytest.approx(float(net(image).max().detach()))


def test_box_errors_name_the_problem():
    net = _two_layer_net()
    with pytest.raises(OneByOneError, match="must be"):
        strongest_unit_box(net, torch.zeros(2, 1, 16, 16), "3")
    with pytest.raises(OneByOneError, match="nope"):
        strongest_unit_box(net, torch.zeros(1, 16, 16), "nope")


@needs_data
def test_sparsity_fractions_are_counted_on_real_images(test_items):
    images = test_items[0].float() / 255.0
    model = _nin()
    result = measure_sparsity(model, images, batch_size=40)  # 96 images: uneven batches
    acts = capture_activations(model, images)
    assert [r.layer for r in result.rows] == list(acts) == relu_layers(model)
    assert [r.depth for r in result.rows] == list(range(1, 10))
    for row in result.rows:
        act = acts[row.layer]
        assert row.numel == act.numel() and row.shape == list(act.shape[1:])
        assert row.zero_fraction == pytest.approx(float((act == 0).double().mean()))
        assert row.mean_activation == pytest.approx(float(act.double().mean()), rel=1e-6)
        assert 0.0 < row.zero_fraction < 1.0
    with pytest.raises(OneByOneError, match="no images"):
        measure_sparsity(model, images[:0])


@needs_data
def test_scenes_hold_the_real_items_apart(test_items):
    images, labels = test_items
    scenes = compose_scenes(images[:40], labels[:40], canvas=84, items_per_scene=4, gap=4, seed=3)
    assert len(scenes) == 10 and scenes.boxes.shape == (40, 4)
    for item, (box, scene) in enumerate(zip(scenes.boxes.tolist(), scenes.scene_index.tolist(), strict=True)):
        top, left, bottom, right = box
        assert_close(scenes.canvases[scene, :, top : bottom + 1, left : right + 1], images[item])
    for scene in range(10):  # items of a scene do not touch: at least `gap` pixels apart
        boxes = scenes.boxes[scenes.scene_index == scene].tolist()
        for a in range(4):
            for b in range(a + 1, 4):
                (t1, l1, b1, r1), (t2, l2, b2, r2) = boxes[a], boxes[b]
                assert t2 > b1 + 3 or t1 > b2 + 3 or l2 > r1 + 3 or l1 > r2 + 3
    with pytest.raises(OneByOneError, match="holds 1 items"):
        compose_scenes(images[:8], labels[:8], canvas=40, items_per_scene=2)


@needs_data
def test_dense_prediction_on_item_sized_canvases_is_the_classifier(test_items):
    images, labels = test_items
    scenes = compose_scenes(images[:32], labels[:32], canvas=28, items_per_scene=1, gap=0)
    model = _nin()
    result = dense_prediction(model, scenes)
    with torch.no_grad():
        alone = model(images[:32].float() / 255.0).argmax(1)
    assert result.method == "class activation maps" and result.map_size == (7, 7)
    assert torch.equal(result.region_predictions, alone)  # the mean over all cells is the GAP
    assert result.item_accuracy == pytest.approx(float((alone == labels[:32]).float().mean()))
    assert result.n_hits == int((result.predictions == labels[:32]).sum())


@needs_data
def test_dense_prediction_converts_an_fc_head(test_items):
    images, labels = test_items
    scenes = compose_scenes(images[:16], labels[:16], canvas=84, items_per_scene=4, gap=4)
    result = dense_prediction(_nin(head="fc"), scenes)
    assert result.method == "fc_to_conv" and result.map_size == (15, 15)
    assert result.class_maps.shape == (4, 10, 15, 15) and result.n_items == 16


@needs_data
def test_dense_prediction_of_a_converted_fc_head_is_the_conversion_of_the_original(test_items):
    from onebyone.surgery import fc_to_conv

    images, labels = test_items
    scenes = compose_scenes(images[:16], labels[:16], canvas=84, items_per_scene=4, gap=4)
    original = _nin(head="fc")
    converted = dense_prediction(fc_to_conv(original, (1, 28, 28)).eval(), scenes)
    assert converted.method == "fc_to_conv"
    assert_close(converted.class_maps, dense_prediction(original, scenes).class_maps)
