"""Photos as network inputs: resize + centre crop + per-channel standardisation, colour modes, errors."""

import pytest
import torch
from PIL import Image

from onebyone.data import MAX_UPSCALE, load_image, open_image, preprocess_image
from onebyone.errors import OneByOneError

LITE = {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3}


def save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


@pytest.mark.parametrize("width, height", [(451, 300), (300, 451), (224, 224), (1000, 700), (64, 80)])
def test_any_size_gives_the_crop(tmp_path, width, height):
    path = save(Image.new("RGB", (width, height), (10, 20, 30)), tmp_path / "photo.png")
    x = preprocess_image(path, size=224, **LITE)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32


def test_standardisation_per_channel():
    image = Image.new("RGB", (300, 300), (127, 255, 0))
    x = preprocess_image(image, size=32, **LITE)
    # (pixel − 127) / 128: 0, 1 and −127/128 exactly, per channel
    for channel, value in enumerate((0.0, 1.0, -127 / 128)):
        torch.testing.assert_close(x[0, channel], torch.full((32, 32), value))


def test_centre_crop_keeps_the_middle_of_a_wide_photo():
    """A 600×200 photo, white only in its middle half: scaled to 288×96 (shorter side 64 + 32), the
    central 64 columns (112-176) lie inside the white half (72-216); scaled to 192×64 without the
    margin, columns 64-128 still lie inside it (48-144)."""
    image = Image.new("L", (600, 200), 0)
    image.paste(255, (150, 0, 450, 200))
    x = preprocess_image(image, size=64, mean=0.0, std=1.0, channels=1)
    assert x.shape == (1, 1, 64, 64)
    torch.testing.assert_close(x, torch.ones(1, 1, 64, 64))
    wide = preprocess_image(image, size=64, mean=0.0, std=1.0, channels=1, crop_padding=0)
    torch.testing.assert_close(wide, torch.ones(1, 1, 64, 64))
    image.paste(0, (150, 0, 250, 200))  # now black up to column 250 of 600: the crop shows it
    assert preprocess_image(image, size=64, mean=0.0, std=1.0, channels=1).min() == 0.0


def test_non_square_crop():
    x = preprocess_image(Image.new("RGB", (640, 427)), size=(448, 672), mean=0.5, std=0.5)
    assert x.shape == (1, 3, 448, 672)


@pytest.mark.parametrize(
    "mode, colour", [("L", 128), ("RGBA", (200, 10, 10, 255)), ("P", 3), ("LA", (90, 255))]
)
def test_grey_palette_and_alpha_images_are_converted(tmp_path, mode, colour):
    path = save(Image.new(mode, (120, 90), colour), tmp_path / "photo.png")
    x = preprocess_image(path, size=56, **LITE)
    assert x.shape == (1, 3, 56, 56)
    if mode in ("L", "LA"):
        torch.testing.assert_close(x[0, 0], x[0, 1])
        torch.testing.assert_close(x[0, 1], x[0, 2])


def test_transparent_pixels_become_white(tmp_path):
    path = save(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), tmp_path / "clear.png")
    assert open_image(path, 3).getpixel((50, 50)) == (255, 255, 255)
    assert open_image(path, 1).getpixel((50, 50)) == 255


def test_rgb_to_one_channel():
    x = preprocess_image(Image.new("RGB", (50, 50), (255, 255, 255)), size=28, mean=0.0, std=1.0, channels=1)
    torch.testing.assert_close(x, torch.ones(1, 1, 28, 28))


def test_exif_rotation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    path = save(Image.new("RGB", (40, 20)), tmp_path / "rotated.jpg", exif=exif)
    assert open_image(path, 3).size == (20, 40)


def test_tiny_image_is_refused_with_the_minimum(tmp_path):
    path = save(Image.new("RGB", (4, 4)), tmp_path / "tiny.png")
    with pytest.raises(OneByOneError, match=r"is 4×4 pixels; a 224×224 input needs at least 64×64"):
        preprocess_image(path, size=224, **LITE)
    # exactly MAX_UPSCALE times is still allowed
    edge = int((224 + 32) / MAX_UPSCALE)
    assert preprocess_image(Image.new("RGB", (edge, edge)), size=224, **LITE).shape == (1, 3, 224, 224)
    with pytest.raises(OneByOneError, match="needs at least 7×7"):
        preprocess_image(Image.new("L", (4, 4)), size=28, mean=0.5, std=0.5, channels=1, crop_padding=0)


def test_unreadable_files(tmp_path):
    with pytest.raises(OneByOneError, match="not found"):
        preprocess_image(tmp_path / "nope.jpg", size=224, **LITE)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(OneByOneError, match="cannot read image .*junk.jpg.*UnidentifiedImageError"):
        preprocess_image(junk, size=224, **LITE)
    whole = save(Image.effect_noise((200, 200), 40).convert("RGB"), tmp_path / "whole.jpg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:600])  # a truncated JPEG
    with pytest.raises(OneByOneError, match="cannot read image .*cut.jpg"):
        preprocess_image(cut, size=224, **LITE)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mean": (0.5, 0.5), "std": 0.5}, "mean needs 1 or 3 values, got 2"),
        ({"mean": 0.5, "std": (0.5, 0.0, 0.5)}, "std must be > 0"),
        ({"mean": 0.5, "std": 0.5, "channels": 2}, "2-channel input"),
        ({"mean": 0.5, "std": 0.5, "crop_padding": -1}, "crop_padding -1"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(OneByOneError, match=message):
        preprocess_image(Image.new("RGB", (300, 300)), size=224, **options)


def test_load_image_gives_uint8_at_the_exact_size(tmp_path):
    path = save(Image.new("RGB", (50, 40), (200, 30, 30)), tmp_path / "photo.jpg")
    x = load_image(path, channels=1, size=(28, 28))
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.uint8
    rgb = load_image(
        save(Image.new("RGB", (28, 28), (200, 30, 30)), tmp_path / "same.png"), channels=3, size=(28, 28)
    )
    assert rgb[0, :, 0, 0].tolist() == [200, 30, 30]


def test_a_16_bit_grey_photo_gives_the_pixels_of_its_8_bit_twin(tmp_path):
    """Pillow converts I;16 to 8 bits by clipping at 255 (a photo turns white); it is scaled instead."""
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (40, 30), dtype=np.uint8)
    deep = save(Image.fromarray(pixels.astype(np.uint16) * 257), tmp_path / "deep.png")
    assert Image.open(deep).mode == "I;16"
    twin = save(Image.fromarray(pixels), tmp_path / "twin.png")
    for channels in (1, 3):
        torch.testing.assert_close(
            load_image(deep, channels=channels, size=(40, 30)),
            load_image(twin, channels=channels, size=(40, 30)),
        )


@pytest.mark.parametrize("mode, words", [("I", "32-bit integer pixels"), ("F", "floating-point")])
def test_a_photo_of_unknown_pixel_range_is_refused(tmp_path, mode, words):
    import numpy as np

    pixels = np.full((40, 30), 1000 if mode == "I" else 0.5, dtype=np.int32 if mode == "I" else np.float32)
    path = save(Image.fromarray(pixels, mode=mode), tmp_path / "deep.tif")
    with pytest.raises(OneByOneError, match=words):
        load_image(path, channels=1, size=(40, 30))
