"""colorlab.colorize: full-resolution colorization with a (tiny, randomly initialised) Gray2ColorNet, the guided
upsampling, weights handling, and the ``colorlab colorize`` command (run in-process through ``colorlab.cli.main``).
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
from jaxrun import run_on_jax
from PIL import Image

import colorlab
import colorlab.inference as cz
import colorlab.models.weights as model_weights
from colorlab.errors import ColorlabError, ConfigError, ImageLoadError
from colorlab.metrics import l_preservation
from colorlab.models import load_generator



def _gray(height, width, seed=0):
    """A smooth gray test picture with an edge, float32 (H, W) in [0.05, 0.95]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    g = 0.5 + 0.3 * np.sin(6 * x + rng.uniform(0, 3)) * np.cos(4 * y) + 0.1 * (x > 0.5)
    return np.clip(g, 0.05, 0.95).astype(np.float32)


def _colour(height, width, seed=1):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rgb = np.stack([0.5 + 0.4 * np.sin(5 * x), 0.5 + 0.4 * np.cos(3 * y), 0.3 + 0.2 * rng.random((height, width))],
                   axis=-1)
    return np.clip(rgb, 0, 1).astype(np.float32)


def _rgb(image):
    return np.asarray(image, dtype=np.float64) / 255.0


# ------------------------------------------------------------------------------------------------ colorize
@pytest.mark.parametrize("target_shape, reference_shape", [
    ((37, 51), (23, 61)),       # odd sides, reference of another aspect
    ((20, 90), (64, 40)),       # very wide target, tall reference
    ((301, 410), (9, 8)),       # larger than the working size (upsampled 9x), tiny reference
    ((7, 5), (40, 40)),         # smaller than the model's minimum side: scaled up to the working size and back
])
def test_output_is_rgb_at_the_target_size(weights, target_shape, reference_shape):
    out = colorlab.colorize(_gray(*target_shape), _colour(*reference_shape), weights=weights)
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    assert out.size == (target_shape[1], target_shape[0])


@pytest.mark.parametrize("strength", [1.0, 3.0])
def test_lightness_is_kept(weights, strength):
    gray = _gray(90, 130)
    out = _rgb(colorlab.colorize(gray, _colour(50, 70), weights=weights, strength=strength))
    assert l_preservation(out, gray) < 0.5     # only 8-bit rounding (and chroma, never L, is cut at the gamut)
    # ...and it really is coloured (the random tiny model predicts some ab): not just the gray picture
    assert np.abs(out[..., 0] - out[..., 2]).max() > 1 / 255


def test_strength_zero_gives_the_gray_picture(weights):
    gray = _gray(33, 47)
    out = np.asarray(colorlab.colorize(gray, _colour(40, 40), weights=weights, strength=0.0)).astype(int)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert np.abs(out[..., 0] - np.round(gray * 255)).max() <= 1


def test_strength_scales_the_chroma(weights):
    from colorlab.cie import rgb_to_lab_np

    gray, ref = _gray(40, 40), _colour(40, 40)
    full = rgb_to_lab_np(_rgb(colorlab.colorize(gray, ref, weights=weights)))[..., 1:]
    half = rgb_to_lab_np(_rgb(colorlab.colorize(gray, ref, weights=weights, strength=0.5)))[..., 1:]
    assert np.abs(half - 0.5 * full).mean() < 0.1 * np.abs(full).mean() + 0.5


def test_colour_target_warns_and_gray_target_does_not(weights):
    with pytest.warns(cz.ColorTargetWarning, match="colour image"):
        out = colorlab.colorize(_colour(30, 30, seed=3), _colour(30, 30), weights=weights)
    assert out.size == (30, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cz.ColorTargetWarning)
        gray_rgb = np.repeat(_gray(30, 30)[..., None], 3, axis=-1)  # gray stored as RGB is not a colour target
        colorlab.colorize(gray_rgb, _colour(30, 30), weights=weights)


def test_path_pil_and_array_inputs_agree(weights, tmp_path):
    gray8 = np.round(_gray(41, 29) * 255).astype(np.uint8)
    ref8 = np.round(_colour(30, 50) * 255).astype(np.uint8)
    Image.fromarray(gray8).save(tmp_path / "t.png")
    Image.fromarray(ref8).save(tmp_path / "r.png")
    by_path = np.asarray(colorlab.colorize(tmp_path / "t.png", str(tmp_path / "r.png"), weights=str(weights)))
    by_pil = np.asarray(colorlab.colorize(Image.fromarray(gray8), Image.fromarray(ref8), weights=weights))
    by_array = np.asarray(colorlab.colorize(gray8, ref8, weights=weights))
    np.testing.assert_array_equal(by_path, by_pil)
    np.testing.assert_array_equal(by_path, by_array)


def test_package_attribute_is_the_function(weights):
    from colorlab.inference import colorize

    assert colorlab.colorize is colorize
    a = np.asarray(colorize(_gray(16, 16), _colour(16, 16), weights=weights))
    b = np.asarray(colorlab.colorize(_gray(16, 16), _colour(16, 16), weights=weights))
    np.testing.assert_array_equal(a, b)


def test_built_model_and_config_without_json(weights, tmp_path):
    model = load_generator(weights)
    assert load_generator(weights) is model            # cached per file
    by_model = np.asarray(colorlab.colorize(_gray(20, 24), _colour(20, 20), weights=model))
    lone = tmp_path / "lone.weights.h5"                # weights without their .json
    lone.write_bytes(Path(weights).read_bytes())
    with pytest.raises(ConfigError, match="lone.json"):
        colorlab.colorize(_gray(20, 24), _colour(20, 20), weights=lone)
    by_config = np.asarray(colorlab.colorize(_gray(20, 24), _colour(20, 20), weights=lone, config="tiny"))
    np.testing.assert_array_equal(by_model, by_config)
    from colorlab.models import get_config

    with pytest.raises(ColorlabError, match="cannot load weights"):  # weights of another shape: a clear error
        load_generator(lone, config=get_config("tiny", base_width=4))


def test_no_demo_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(model_weights, "DEMO_WEIGHTS", tmp_path / "course.weights.h5")
    with pytest.raises(ColorlabError, match=r"demo weights are not shipped yet.*weights="):
        colorlab.colorize(_gray(16, 16), _colour(16, 16))


def test_bad_arguments(weights, tmp_path):
    with pytest.raises(ConfigError, match="strength"):
        colorlab.colorize(_gray(16, 16), _colour(16, 16), weights=weights, strength=-1)
    with pytest.raises(ConfigError, match="working_size"):
        colorlab.colorize(_gray(16, 16), _colour(16, 16), weights=weights, working_size=4)
    with pytest.raises(ColorlabError, match="no such file"):
        colorlab.colorize(_gray(16, 16), _colour(16, 16), weights=tmp_path / "none.weights.h5")
    with pytest.raises(ImageLoadError, match="nothing.png"):
        colorlab.colorize(tmp_path / "nothing.png", _colour(16, 16), weights=weights)


def test_colorizer_steps_are_colorize(weights):
    """The public pipeline, step by step (what video and evaluation use), gives colorize's picture exactly."""
    from colorlab.cie import image_lightness
    from colorlab.io import load_image

    gray, ref = _gray(30, 45), _colour(20, 28)
    colorizer = cz.Colorizer(weights, strength=0.7)
    assert colorizer.model is load_generator(weights) and colorizer.working_size == colorizer.config.image_size
    assert colorizer.working_shape(30, 45) == (32, 48) and cz.Colorizer(weights, working_size=8).working_shape(
        100, 10) == (80, 8)                                                       # shorter side, each side >= 8
    l_full = image_lightness(load_image(gray))
    l_small = colorizer.working_lightness(l_full)
    reference_lab = colorizer.prepare_reference(load_image(ref))
    assert l_small.shape == (32, 48) and reference_lab.shape == (32, 45, 3) and reference_lab.dtype == np.float32
    ab_small = colorizer.predict_ab(l_small[None], reference_lab)[0]
    assert ab_small.shape == (32, 48, 2)
    rgb8 = colorizer.finish(l_full, l_small, ab_small)
    np.testing.assert_array_equal(rgb8, np.asarray(colorlab.colorize(gray, ref, weights=weights, strength=0.7)))
    fast = colorizer.finish(l_full, l_small, ab_small, fast=True)               # the video path's conversion
    assert np.abs(fast.astype(int) - rgb8).max() <= 1
    with pytest.raises(ConfigError, match="strength"):
        cz.Colorizer(weights, strength=-1)


def test_working_size_changes_what_the_model_sees(weights):
    gray, ref = _gray(64, 64), _colour(32, 32)
    a = np.asarray(colorlab.colorize(gray, ref, weights=weights, working_size=16))
    b = np.asarray(colorlab.colorize(gray, ref, weights=weights, working_size=64))
    assert a.shape == b.shape == (64, 64, 3) and not np.array_equal(a, b)


# ------------------------------------------------------------------------------------- guided upsampling
def test_box_mean_matches_a_direct_sum():
    x = np.random.default_rng(0).random((7, 9, 2))
    got = cz.box_mean(x, 2)
    for i, j in [(0, 0), (3, 4), (6, 8), (1, 7)]:
        window = x[max(i - 2, 0):i + 3, max(j - 2, 0):j + 3]
        np.testing.assert_allclose(got[i, j], window.mean(axis=(0, 1)), rtol=1e-12)


def test_guided_upsampling_keeps_an_edge_sharp():
    # A vertical lightness edge at column 45 of 96 (inside an 8-pixel block of the small picture), and colours
    # that change exactly there. The small picture (12 x 12) is the block average of both, so its edge block mixes
    # the two colours; bilinear spreads that over ~16 pixels, the guided filter puts the edge back where L has it.
    size, factor, edge = 96, 8, 45
    L = np.where(np.arange(size)[None, :] < edge, 30.0, 70.0) * np.ones((size, 1))
    ab = np.stack([np.where(L < 50, 50.0, -50.0), np.where(L < 50, 20.0, -20.0)], axis=-1)
    small = lambda x: x.reshape(size // factor, factor, size // factor, factor, *x.shape[2:]).mean(axis=(1, 3))  # noqa
    guided = cz.guided_upsample(small(ab), small(L) / 100, L / 100)
    bilinear = cz.bilinear_upsample(small(ab), size, size)
    assert guided.shape == bilinear.shape == (size, size, 2)
    err_guided, err_bilinear = np.abs(guided - ab).mean(), np.abs(bilinear - ab).mean()
    assert err_guided < err_bilinear / 3
    # the pixels on either side of the edge keep their own colour (within 10 of +-50) with the guide only
    assert (guided[:, edge - 1, 0] > 40).all() and (guided[:, edge, 0] < -40).all()
    assert not (bilinear[:, edge - 1, 0] > 40).all()


def test_guided_upsampling_of_flat_colour_is_flat():
    L = _gray(40, 56) * 100
    ab = np.broadcast_to(np.array([12.0, -7.0]), (10, 14, 2))
    L_small = np.asarray(Image.fromarray(L.astype(np.float32), mode="F").resize((14, 10), Image.Resampling.BOX))
    out = cz.guided_upsample(ab, L_small / 100, L / 100)
    np.testing.assert_allclose(out, np.broadcast_to([12.0, -7.0], (40, 56, 2)), atol=1e-4)


# -------------------------------------------------------------------------------------------------- CLI
def _cli(capsys, *args):
    from colorlab.cli import main

    code = main(["colorize", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _save(path, array):
    Image.fromarray(np.round(array * 255).astype(np.uint8)).save(path)
    return path


def _error_lines(err):
    return [line for line in err.splitlines() if "error" in line.lower()]


def test_cli_one_file(weights, tmp_path, capsys):
    target = _save(tmp_path / "t.jpg", _gray(30, 44))
    reference = _save(tmp_path / "r.png", _colour(20, 20))
    out = tmp_path / "out.png"
    code, _, err = _cli(capsys, target, "--reference", reference, "-o", out, "--weights", weights)
    assert code == 0, err
    assert Image.open(out).size == (44, 30)
    expected = np.asarray(colorlab.colorize(target, reference, weights=weights))
    np.testing.assert_array_equal(np.asarray(Image.open(out)), expected)


def test_cli_folder_of_several_and_overwrite(weights, tmp_path, capsys):
    targets = [_save(tmp_path / f"t{i}.png", _gray(20 + i, 25, seed=i)) for i in range(3)]
    reference = _save(tmp_path / "r.png", _colour(20, 20))
    folder = tmp_path / "out"
    args = [*targets, "--reference", reference, "-o", folder, "--weights", weights, "--strength", "0.5"]
    code, _, err = _cli(capsys, *args)
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["t0.png", "t1.png", "t2.png"]
    assert [Image.open(folder / f"t{i}.png").size for i in range(3)] == [(25, 20), (25, 21), (25, 22)]

    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, _, err = _cli(capsys, *args[:-2], "--strength", "0")    # refuses: outputs exist
    assert code != 0 and len(_error_lines(err)) == 1 and "exists" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before

    code, _, err = _cli(capsys, *args[:-2], "--strength", "0", "--overwrite")
    assert code == 0, err
    gray = np.asarray(Image.open(folder / "t0.png")).astype(int)
    assert (gray[..., 0] == gray[..., 2]).all()                  # strength 0 written over the coloured one


def test_cli_bad_input_file_one_line_no_partial_file(weights, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    reference = _save(tmp_path / "r.png", _colour(20, 20))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = _cli(capsys, bad, "--reference", reference, "-o", out_dir / "x.png", "--weights", weights)
    assert code != 0
    assert len(_error_lines(err)) == 1 and "bad.jpg" in err and "Traceback" not in err
    assert list(out_dir.iterdir()) == []                         # no output, no temporary file


def test_cli_without_weights_explains(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(model_weights, "DEMO_WEIGHTS", tmp_path / "course.weights.h5")
    target = _save(tmp_path / "t.png", _gray(16, 16))
    code, _, err = _cli(capsys, target, "--reference", target, "-o", tmp_path / "o.png")
    assert code != 0 and len(_error_lines(err)) == 1 and "--weights" in err
    assert not (tmp_path / "o.png").exists()


def test_runs_on_jax(weights, tmp_path):
    """The same weights file, loaded and run on the JAX backend, gives the same picture (up to float rounding)."""
    target = _save(tmp_path / "t.png", _gray(24, 36))
    reference = _save(tmp_path / "r.png", _colour(20, 28))
    script = ("import sys, numpy as np, colorlab; "
              "np.save(sys.argv[4], np.asarray(colorlab.colorize(sys.argv[1], sys.argv[2], weights=sys.argv[3])))")
    run_on_jax(script, target, reference, weights, tmp_path / "jax.npy")
    on_jax = np.load(tmp_path / "jax.npy").astype(int)
    here = np.asarray(colorlab.colorize(target, reference, weights=weights)).astype(int)
    assert on_jax.shape == here.shape == (24, 36, 3)
    assert np.abs(on_jax - here).max() <= 2
