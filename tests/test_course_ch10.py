"""colorlab.course.ch10_video: the recorded propagation equals colorlab.video's; measurements on clips of known motion;
the GIF and figures are what they say."""

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

cv2 = pytest.importorskip("cv2")

from colorlab import video  # noqa: E402
from colorlab.course import ch10_video as course10  # noqa: E402
from colorlab.errors import ConfigError  # noqa: E402
from colorlab.exercises import ch10  # noqa: E402
from colorlab.io import sample_paths  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _photo(name):
    return next(p for p in sample_paths() if p.stem == name)


@pytest.fixture(scope="module")
def clip():
    frames, cut = course10.two_shot_clip(_photo("castle_1"), _photo("horse_1"), size=(48, 32), frames_per_shot=4,
                                    pan_travel=0.1)   # about 2 px per frame
    assert frames.shape == (8, 32, 48, 3) and frames.dtype == np.uint8 and cut == 4
    return frames


@pytest.fixture(scope="module")
def trace(clip, weights):
    return course10.trace_clip(clip, clip[0], weights=weights, batch_size=4)


def _texture(h=24, w=40, seed=0):
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.uniform(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    return ((noise - noise.min()) / (noise.max() - noise.min()) * 70 + 15).astype(np.float32)


def _pan(texture, steps, shift):
    """L* frames of ``texture`` moved right by ``shift`` px per frame (content moves, as in a camera pan)."""
    h, w = texture.shape
    return np.stack([cv2.warpAffine(texture, np.float32([[1, 0, shift * t], [0, 1, 0]]), (w, h),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT) for t in range(steps)])


# ------------------------------------------------------------------------------------ the recorded propagation
def test_trace_matches_colorize_frames(clip, trace, weights):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        propagated = video.colorize_frames(clip, clip[0], weights=weights, batch_size=4)
        per_frame = video.colorize_frames(clip, clip[0], weights=weights, batch_size=4, temporal_weight=0)
    h, w = trace.l_small.shape[1:]
    assert trace.coloured.shape == clip.shape and trace.ab.shape == trace.ab_model.shape == (8, h, w, 2)
    assert min(h, w) == 32   # the tiny config's working size
    # TF's CPU kernels are not bit-reproducible between calls: allow one 8-bit step on a few pixels
    assert np.abs(trace.coloured.astype(int) - propagated).max() <= 1
    assert np.abs(course10.render(clip, trace.l_small, trace.ab).astype(int) - propagated).max() <= 1
    assert np.abs(course10.render(clip, trace.l_small, trace.ab_model).astype(int) - per_frame).max() <= 1
    assert trace.cuts == [0, 4]                                     # the first frame and the cut between shots
    assert np.isnan(trace.consistency[0]) and trace.consistency[4] < video.CUT_THRESHOLD
    assert np.all(trace.consistency[[1, 2, 3, 5, 6, 7]] > video.CUT_THRESHOLD)
    np.testing.assert_array_equal(trace.ab[0], trace.ab_model[0])
    np.testing.assert_array_equal(trace.ab[4], trace.ab_model[4])   # re-anchored at the cut
    assert not np.allclose(trace.ab[2], trace.ab_model[2])


def test_repropagate_and_step_reproduce_the_trace(trace):
    ab, stats = course10.repropagate(trace.l_small, trace.ab_model, trace.weight)
    np.testing.assert_array_equal(ab, trace.ab)
    assert [s.cut for s in stats] == [s.cut for s in trace.stats]
    per_frame, _ = course10.repropagate(trace.l_small, trace.ab_model, 0.0)
    np.testing.assert_array_equal(per_frame, trace.ab_model)
    step = course10.propagation_step(trace, 2)
    np.testing.assert_array_equal(step["ab"], trace.ab[2])
    alpha = trace.weight * step["confidence"][..., None]
    np.testing.assert_allclose(alpha * step["ab_warp"] + (1 - alpha) * step["ab_model"], step["ab"], atol=1e-4)
    assert step["flow"].shape == step["ab"].shape and not step["cut"]
    assert step["consistency"] == pytest.approx(float(step["confidence"].mean()), abs=1e-6)
    assert course10.propagation_step(trace, 4)["cut"]
    with pytest.raises(ConfigError, match="frame index"):
        course10.propagation_step(trace, 0)


def test_propagate_with_the_exercise_solutions_equals_the_trace(trace):
    ours = course10.propagate_with(ch10.confidence, ch10.blend, trace.l_small, trace.ab_model)
    np.testing.assert_allclose(ours, trace.ab, atol=1e-3)
    wrong = course10.propagate_with(ch10.confidence, lambda w_, m, c, w, t: m, trace.l_small, trace.ab_model)
    assert np.abs(wrong - trace.ab).max() > 0.1


# ------------------------------------------------------------------------------------------- measurements
def test_flow_maps_follow_a_known_pan():
    frames = _pan(_texture(), 2, 3.0)
    map_x, map_y, inside = course10.flow_maps(frames[1], frames[0])
    # content moved right by 3 px: pixel p of frame 1 was at p - 3 in frame 0
    cols = np.arange(frames.shape[2])[None, :]
    np.testing.assert_allclose(np.median((map_x - cols)[:, 8:-8]), -3.0, atol=0.25)
    np.testing.assert_allclose(np.median(map_y - np.arange(frames.shape[1])[:, None]), 0.0, atol=0.25)
    assert not inside[:, 0].any() and inside[:, 10:].all()          # the left edge is new content
    _, _, c = video.TemporalPropagation().confidence(frames[1], frames[0])
    np.testing.assert_array_equal(c == 0, ~inside)                  # the propagation's own inside rule
    warped = course10.remap(frames[0], map_x, map_y)
    assert np.abs(warped - frames[1])[4:-4, 8:-8].mean() < 1.0


def test_colour_change_along_motion_separates_steady_from_flickering():
    lightness = _pan(_texture(), 5, 2.0)
    steady = np.stack([np.stack([lightness[t] - 50, 50 - lightness[t]], axis=-1) for t in range(5)])  # moves along
    rng = np.random.default_rng(0)
    flicker = steady + rng.normal(0, 5, steady.shape).astype(np.float32)
    constant = np.full_like(steady, 20.0)
    assert np.isnan(course10.colour_change_along_motion(steady, lightness)[0])
    assert np.nanmax(course10.colour_change_along_motion(constant, lightness)) < 1e-4
    assert np.nanmax(course10.colour_change_along_motion(steady, lightness)) < 1.5
    # two independent N(0, 5) noises per channel: E||d|| = sqrt(2·2·25)·sqrt(pi)/2 ≈ 8.9
    assert np.nanmin(course10.colour_change_along_motion(flicker, lightness)) > 6.0
    cut = lightness.copy()
    cut[3] = _texture(seed=9)                                        # another picture: nothing to compare
    assert np.isnan(course10.colour_change_along_motion(steady, cut)[3])
    with pytest.raises(ConfigError):
        course10.colour_change_along_motion(steady[..., :1], lightness)


def test_track_point_and_patch_mean():
    lightness = _pan(_texture(w=60), 6, 2.0)
    track = course10.track_point(lightness, 20.0, 12.0, first=1, last=4)
    assert np.isnan(track[0]).all() and np.isnan(track[5]).all()
    np.testing.assert_allclose(track[1:5, 0], [20.0, 22.0, 24.0, 26.0], atol=0.3)
    np.testing.assert_allclose(track[1:5, 1], 12.0, atol=0.3)
    values = np.arange(2 * 4 * 5 * 1, dtype=float).reshape(2, 4, 5, 1)     # value = 5 row + col (+ 20 t)
    means = course10.patch_mean(values, np.array([[2.0, 1.0], [np.nan, np.nan]]), radius=1)
    assert means[0, 0] == pytest.approx(values[0, 0:3, 1:4, 0].mean()) and np.isnan(means[1, 0])
    # a linear ramp sampled bilinearly: the mean at (x, y) = (2.5, 1.5) is 5·1.5 + 2.5 = 10 (a sub-pixel shift
    # moves the mean smoothly, no jump), and the border is replicated at (0, 0)
    assert course10.patch_mean(values, np.array([[2.5, 1.5], [9.0, 1.0]]), radius=1)[0, 0] == pytest.approx(10.0)
    assert np.isnan(course10.patch_mean(values, np.array([[2.5, 1.5], [9.0, 1.0]]), radius=1)[1, 0])  # outside
    corner = course10.patch_mean(values, np.array([[0.0, 0.0], [0.0, 0.0]]), radius=1)[0, 0]
    assert corner == pytest.approx(np.mean([0, 0, 1, 0, 0, 1, 5, 5, 6]))


def test_flow_to_rgb_colour_coding():
    flow = np.array([[[2.0, 0.0], [0.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [1.0, 0.0]]])
    rgb = course10.flow_to_rgb(flow)
    np.testing.assert_allclose(rgb[0, 0], [1, 0, 0])                # right: red, full brightness
    np.testing.assert_allclose(rgb[0, 1], [0, 0, 0])                # no motion: black
    np.testing.assert_allclose(rgb[0, 2], [0, 1, 1])                # left: cyan
    np.testing.assert_allclose(rgb[0, 3], [0.5, 1, 0])              # down (image y): hue 90°
    np.testing.assert_allclose(rgb[0, 4], [0.5, 0, 0])              # half the longest: half brightness
    np.testing.assert_allclose(course10.flow_to_rgb(flow, max_magnitude=1.0)[0, 4], [1, 0, 0])


def test_to_gray_and_lab_frames(clip):
    gray = course10.to_gray(clip)
    assert gray.shape == clip.shape and gray.dtype == np.uint8
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    lightness, ab = course10.lab_frames(clip[:2])
    gray_l, gray_ab = course10.lab_frames(gray[:2])
    assert lightness.shape == (2, 32, 48) and ab.shape == (2, 32, 48, 2)
    assert np.abs(gray_l - lightness).max() < 0.5 and np.abs(gray_ab).max() < 0.05
    with pytest.raises(ConfigError, match="uint8"):
        course10.to_gray(clip.astype(np.float32))


# ------------------------------------------------------------------------------------------- GIF and figures
def test_side_by_side_gif_frames_size_and_a_steady_palette(clip):
    from PIL import Image

    still = np.repeat(clip[:1], len(clip), axis=0)                  # a panel that does not change
    data = course10.side_by_side_gif([clip, still], ["moving", "still"], panel_width=40, fps=10, label_height=12)
    image = Image.open(io.BytesIO(data))
    assert image.format == "GIF" and image.n_frames == len(clip)
    assert image.size == (80, 12 + round(32 * 40 / 48))
    assert image.info["duration"] == 100 and image.info["loop"] == 0
    frames = []
    for t in range(image.n_frames):
        image.seek(t)
        frames.append(np.asarray(image.convert("RGB"))[12:, 40:])
    assert all(np.array_equal(frames[0], f) for f in frames[1:])   # one palette: a still panel stays still
    with pytest.raises(ConfigError, match="one label per panel"):
        course10.side_by_side_gif([clip], ["a", "b"])


def test_figures_have_titles_and_labels(clip, trace):
    ax = course10.plot_over_time({"a": np.arange(8.0), "b": np.full(8, np.nan)}, cuts=[0, 4], title="T", ylabel="Y")
    assert ax.get_title() == "T" and ax.get_ylabel() == "Y" and ax.get_xlabel() == "frame index t"
    assert [line.get_xdata()[0] for line in ax.lines[2:]] == [3.5]      # one dashed line, before frame 4
    fig = course10.plot_propagation_step(course10.propagation_step(trace, 1))
    assert len(fig.axes) == 7                                       # six pictures and the colour bar
    for axis in fig.axes[:6]:
        assert axis.get_title() and axis.get_xlabel() == "x (px)" and axis.get_ylabel() == "y (px)"
    fig = course10.plot_frames({"truth": clip, "gray": course10.to_gray(clip)}, [0, 4], cuts=[4])
    assert len(fig.axes) == 4 and fig.axes[1].get_title() == "t = 4 (cut)" and fig.axes[2].get_ylabel() == "gray"


def test_weight_explorer_redraws_when_driven(trace):
    pytest.importorskip("ipywidgets")
    box = course10.weight_explorer(trace, cuts=[4])
    weight, frame = box.sliders["weight"], box.sliders["frame"]
    weight.value = 0.0
    per_frame = box.latest["curve"]
    np.testing.assert_allclose(per_frame, course10.colour_change_along_motion(trace.ab_model, trace.l_small))
    weight.value = 0.9
    frame.value = 6
    assert box.latest["weight"] == pytest.approx(0.9) and box.latest["frame"] == 6
    assert box.latest["cuts"] == [0, 4]
    assert box.latest["mean_change"] < float(np.nanmean(per_frame))   # propagation steadies the colours


def test_format_metrics_table():
    rows = [{"method": "per-frame", "psnr": 25.123, "ssim": 0.91234, "cdc": 0.0041234, "warping_error": 0.0123456,
             "cuts": 1},
            {"method": "ground truth", "psnr": float("nan"), "ssim": float("nan"), "cdc": 0.002, "warping_error": 0.01,
             "cuts": 0}]
    lines = course10.format_metrics(rows).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| method | PSNR (dB)")
    assert lines[2] == "| per-frame | 25.12 | 0.9123 | 4.123 | 12.346 | 1 |"
    assert lines[3] == "| ground truth | — | — | 2.000 | 10.000 | — |"


def test_figure_jpeg_renders_and_closes():
    from PIL import Image

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.imshow(np.zeros((4, 8, 3)))
    data = course10.figure_jpeg(fig, dpi=50)
    assert data[:2] == b"\xff\xd8" and Image.open(io.BytesIO(data)).format == "JPEG"
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(ConfigError):
        course10.figure_jpeg(plt.figure(), quality=0)


def test_confidence_vs_shift_high_for_small_moves_and_bounded_by_new_content():
    texture = _texture(h=40, w=120)
    scores = course10.confidence_vs_shift(texture, [0, 2, 4, 40], size=(64, 32))
    assert scores.shape == (4,)
    assert scores[0] > 0.99                                 # no motion: everything matches
    assert scores[1] > 0.9 and scores[1] <= 1 - 2 / 64 + 0.02   # a 2 px pan: a 2 px strip is new content
    assert scores[3] < 0.5                                  # 40 px of a 64 px frame: the flow cannot follow
    with pytest.raises(ConfigError, match="largest shift"):
        course10.confidence_vs_shift(texture, [80], size=(64, 32))
