"""colorlab.video: temporal propagation, in-memory clips, video files (timing, audio, containers), resuming an
interrupted job, bad input, the ``colorlab video`` command and evaluate_clip.

Everything runs on tiny clips (64x48, 6-20 frames) with the randomly initialised tiny model of the ``weights``
fixture (working size 32 px). Files are built with colorlab.video.write_frames or with PyAV directly
(tests/video_fixtures.py) and read back with PyAV, independently of the module under test.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

import video_fixtures as vf  # noqa: E402  (tests/ is on sys.path, as for jaxrun)

from colorlab import video  # noqa: E402
from colorlab.errors import ColorlabError, ConfigError, OutputExistsError, VideoError  # noqa: E402
from colorlab.cie import rgb_to_lab_np  # noqa: E402
from colorlab.metrics import cdc, l_preservation  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZE = (64, 48)            # (width, height) of most clips: one compiled model shape for most tests
FAST = dict(batch_size=4)  # model batch of most calls (the same shape again: no re-tracing)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def ref():
    """The colour reference: a parrot photo (colourful), as an array."""
    return video.synthetic_clip(vf.sample("parrot.jpg"), 1, SIZE)[0]


@pytest.fixture(scope="module")
def clip():
    """12 frames of a pan over a lake photo, uint8 (12, 48, 64, 3)."""
    return video.synthetic_clip(vf.sample("lake_1.jpg"), 12, SIZE, "pan")


@pytest.fixture(scope="module")
def files(tmp_path_factory, clip):
    """Input videos: ``plain`` (25 fps, no audio) and ``audio`` (29.97 fps with an AAC track), both .mp4."""
    folder = tmp_path_factory.mktemp("video_inputs")
    return {
        "plain": video.write_frames(clip, folder / "plain.mp4", fps=25),
        "audio": video.write_frames(clip, folder / "audio.mp4", fps=Fraction(30000, 1001),
                                    audio=vf.tone(12000), audio_rate=16000),
    }


def _partial(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def _leaves_nothing(output: Path) -> None:
    assert not output.exists(), f"{output} was written"
    assert not _partial(output).exists(), f"{_partial(output)} was left behind"


def _colorize_video(source, reference, output, weights, **options):
    return video.colorize_video(source, reference, output, weights=weights, progress=False,
                                **{**FAST, **options})


def _ab(frames_uint8) -> np.ndarray:
    return rgb_to_lab_np(np.asarray(frames_uint8) / 255.0)[..., 1:]


# ===================================================================================== TemporalPropagation
def test_first_frame_is_a_cut_with_the_models_colours():
    rng = np.random.default_rng(0)
    l0 = vf.textured_lightness((16, 24))
    ab_model = rng.normal(0, 20, (16, 24, 2)).astype(np.float32)
    propagation = video.TemporalPropagation()
    assert propagation.get_state() == {}
    ab, stats = propagation(l0, ab_model)
    assert stats.cut and stats.consistency == 0.0
    assert ab.dtype == np.float32 and ab.shape == (16, 24, 2)
    assert np.array_equal(ab, ab_model)


def test_weight_zero_returns_the_models_ab_for_every_frame():
    rng = np.random.default_rng(1)
    propagation = video.TemporalPropagation(weight=0.0)
    l_static = vf.textured_lightness((16, 24))
    for t in range(5):
        ab_model = rng.normal(0, 20, (16, 24, 2)).astype(np.float32)
        ab, stats = propagation(l_static, ab_model)     # the same frame: full confidence, but weight 0
        assert np.array_equal(ab, ab_model), t
        assert stats.cut == (t == 0)


def test_static_clip_blends_previous_and_model_colours_by_hand():
    """Same L* twice: flow ~0, confidence ~1, so ab = w * ab(t-1) + (1 - w) * ab_model(t)."""
    l0 = vf.textured_lightness((48, 64))
    smooth = [vf.textured_lightness((48, 64), seed=seed) - 50 for seed in (11, 12, 13, 14)]   # ab of real frames
    ab_first = np.stack(smooth[:2], axis=-1)                                                 # varies smoothly
    ab_model = np.stack([smooth[2], -smooth[3]], axis=-1)
    w = 0.6
    propagation = video.TemporalPropagation(weight=w)
    propagation(l0, ab_first)
    _, _, confidence = propagation.confidence(l0, l0)
    inner = (slice(4, -4), slice(4, -4))
    assert confidence[inner].min() > 0.999
    ab, stats = propagation(l0, ab_model)
    assert not stats.cut and stats.consistency > 0.95
    expected = w * ab_first + (1 - w) * ab_model
    np.testing.assert_allclose(ab[inner], expected[inner], atol=0.01)
    assert np.abs(ab[inner] - ab_model[inner]).mean() > 5     # it really blended (not the model's alone)


def test_static_clip_confidence_is_one_at_the_border_too():
    l0 = vf.textured_lightness((48, 64))
    _, _, confidence = video.TemporalPropagation().confidence(l0, l0)
    assert confidence.min() > 0.9


def test_known_translation_carries_colours_to_the_moved_pixels():
    dx, dy, m = 3, 2, 8
    big = vf.textured_lightness((48, 64), seed=3, margin=m)
    l_prev = big[m:-m, m:-m]
    l_now = big[m - dy:-m - dy, m - dx:-m - dx]            # l_now[y, x] = l_prev[y - dy, x - dx]
    rows, cols = np.mgrid[0:48, 0:64].astype(np.float32)
    ab_prev = np.stack([l_prev - 50, 0.5 * (cols - 32) + 0.3 * (rows - 24)], axis=-1).astype(np.float32)
    w = 0.5
    propagation = video.TemporalPropagation(weight=w)
    propagation(l_prev, ab_prev)
    map_x, map_y, confidence = propagation.confidence(l_now, l_prev)
    inner = (slice(8, -8), slice(8, -8))
    np.testing.assert_allclose((map_x - cols)[inner].mean(), -dx, atol=0.05)    # came from 3 px to the left
    np.testing.assert_allclose((map_y - rows)[inner].mean(), -dy, atol=0.05)
    assert confidence[inner].min() > 0.95

    ab, stats = propagation(l_now, np.zeros_like(ab_prev))   # model says gray: what remains is the warp
    assert not stats.cut
    shifted = np.zeros_like(ab_prev)
    shifted[dy:, dx:] = ab_prev[:-dy, :-dx]
    error = np.abs(ab[inner] / w - shifted[inner])
    assert error.max() < 1.0 and error.mean() < 0.05
    assert np.abs(ab[inner] / w - ab_prev[inner]).mean() > 2.0    # not where it was before the move


def test_unrelated_frame_is_a_cut_with_the_models_colours():
    rng = np.random.default_rng(4)
    propagation = video.TemporalPropagation()
    propagation(vf.textured_lightness((48, 64), seed=5), rng.normal(0, 20, (48, 64, 2)).astype(np.float32))
    ab_model = rng.normal(0, 20, (48, 64, 2)).astype(np.float32)
    ab, stats = propagation(vf.textured_lightness((48, 64), seed=6), ab_model)
    assert stats.cut and stats.consistency < video.CUT_THRESHOLD
    assert np.array_equal(ab, ab_model)


def test_state_round_trip_gives_identical_outputs():
    rng = np.random.default_rng(7)
    big = vf.textured_lightness((32, 40), seed=8, margin=4)
    frames = [big[4:-4, 4 - t:big.shape[1] - 4 - t] for t in range(4)]     # a slow pan
    models = [rng.normal(0, 20, (32, 40, 2)).astype(np.float32) for _ in range(4)]
    first = video.TemporalPropagation()
    for l, ab in zip(frames[:3], models[:3]):
        first(l, ab)
    state = first.get_state()
    assert set(state) == {"l", "ab"} and state["ab"].shape == (32, 40, 2)
    second = video.TemporalPropagation()
    second.set_state({key: value.copy() for key, value in state.items()})
    ab_a, stats_a = first(frames[3], models[3])
    ab_b, stats_b = second(frames[3], models[3])
    assert np.array_equal(ab_a, ab_b) and stats_a == stats_b and not stats_a.cut
    state["ab"][:] = 1e6                      # get_state returned a copy: the propagation is unaffected
    assert np.abs(first.get_state()["ab"]).max() < 1e5
    second.set_state({})                      # empty state: the next frame starts a shot
    assert second(frames[3], models[3])[1].cut


@pytest.mark.parametrize("kwargs", [
    dict(weight=1.0), dict(weight=-0.1), dict(weight=True), dict(weight=float("nan")), dict(weight="0.5"),
    dict(sigma=0.0), dict(sigma=-1.0), dict(sigma=float("inf")), dict(cut_threshold=1.5), dict(cut_threshold=-0.1),
])
def test_propagation_rejects_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        video.TemporalPropagation(**kwargs)


# ========================================================================================= colorize_frames
def test_colorize_frames_shape_dtype_and_lightness(weights, clip, ref):
    out, stats = video.colorize_frames(clip, ref, weights=weights, return_stats=True, **FAST)
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert len(stats) == len(clip) and stats[0].cut
    l_in = rgb_to_lab_np(clip / 255.0)[..., 0]
    l_out = rgb_to_lab_np(out / 255.0)[..., 0]
    assert np.abs(l_out - l_in).max() < 1.0                           # 8-bit rounding only
    assert max(l_preservation(o / 255.0, c / 255.0) for o, c in zip(out, clip)) < 0.2
    assert np.abs(_ab(out)).mean() > 0.5                                # it is not gray


def test_batch_size_does_not_change_the_frames(weights, clip, ref):
    one = video.colorize_frames(clip[:6], ref, weights=weights, batch_size=1)
    four = video.colorize_frames(clip[:6], ref, weights=weights, batch_size=4)
    assert np.abs(one.astype(int) - four).max() <= 1


def test_weight_zero_equals_per_frame_colorization(weights, clip, ref):
    import colorlab

    whole = video.colorize_frames(clip[:6], ref, weights=weights, temporal_weight=0.0, **FAST)
    single = np.concatenate([video.colorize_frames(frame[None], ref, weights=weights, temporal_weight=0.0, **FAST)
                             for frame in clip[:6]])
    assert np.array_equal(whole, single)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # colour targets on purpose
        image = np.stack([np.asarray(colorlab.colorize(frame, ref, weights=weights)) for frame in clip[:6]])
    assert np.abs(whole.astype(int) - image).max() <= 1                  # the fast 8-bit path: one step at most


def test_propagation_reduces_flicker_on_a_noisy_static_clip(weights, clip, ref):
    rng = np.random.default_rng(0)
    gray = clip[0].mean(axis=-1)
    noisy = np.stack([np.clip(np.rint(gray + rng.normal(0, 2.0, gray.shape)), 0, 255) for _ in range(12)])
    frames = np.repeat(noisy.astype(np.uint8)[..., None], 3, axis=-1)
    measures = {}
    for w in (0.0, video.TEMPORAL_WEIGHT):
        out, stats = video.colorize_frames(frames, ref, weights=weights, temporal_weight=w, return_stats=True,
                                           **FAST)
        ab = _ab(out)
        measures[w] = (np.mean((ab[1:] - ab[:-1]) ** 2), ab.var(axis=0).mean())
        assert [s.cut for s in stats] == [True] + [False] * 11
    (step_frame, var_frame), (step_prop, var_prop) = measures[0.0], measures[video.TEMPORAL_WEIGHT]
    assert step_frame > 0                                   # per-frame colorization does flicker on this clip
    assert step_prop < 0.5 * step_frame, measures
    assert var_prop < 0.6 * var_frame, measures


def test_cut_between_two_photos_is_reported_and_none_inside_a_pan(weights, clip, ref):
    other = video.synthetic_clip(vf.sample("castle_1.jpg"), 12, SIZE, "pan")[:6]   # 2 px/frame at 32 px
    two_shots = np.concatenate([clip[:6], other])
    _, stats = video.colorize_frames(two_shots, ref, weights=weights, return_stats=True, **FAST)
    assert [i for i, s in enumerate(stats) if s.cut] == [0, 6]
    assert stats[6].consistency < video.CUT_THRESHOLD
    assert min(s.consistency for s in stats[1:6]) > video.CUT_THRESHOLD
    _, stats = video.colorize_frames(clip, ref, weights=weights, return_stats=True, **FAST)
    assert [i for i, s in enumerate(stats) if s.cut] == [0]


@pytest.mark.parametrize("kwargs", [dict(temporal_weight=1.0), dict(batch_size=0), dict(strength=-1.0),
                                    dict(cut_threshold=2.0)])
def test_colorize_frames_rejects_bad_arguments(weights, clip, ref, kwargs):
    with pytest.raises(ConfigError):
        video.colorize_frames(clip[:2], ref, weights=weights, **kwargs)


@pytest.mark.parametrize("frames", [np.zeros((2, 8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8),
                                    np.zeros((0, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 4), np.uint8)])
def test_colorize_frames_rejects_bad_frames(weights, ref, frames):
    with pytest.raises(ConfigError):
        video.colorize_frames(frames, ref, weights=weights)


# ================================================================================ probe, read, write, clips
def test_probe_and_read_frames(files, clip):
    info = video.probe_video(files["audio"])
    assert (info.width, info.height, info.frame_count) == (64, 48, 12)
    assert info.fps == Fraction(30000, 1001) and info.codec == "h264" and info.audio == ("aac",)
    assert info.duration == pytest.approx(12 * 1001 / 30000)
    plain = video.probe_video(files["plain"])
    assert plain.fps == 25 and plain.frame_count == 12 and plain.audio == ()
    frames, read_info = video.read_frames(files["plain"])
    assert read_info == plain
    assert frames.shape == (12, 48, 64, 3) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - clip).mean() < 4             # H.264 at CRF 18, 4:2:0 chroma
    first5, _ = video.read_frames(files["plain"], max_frames=5)
    assert np.array_equal(first5, frames[:5])


def test_write_frames_refuses_bad_frames_and_existing_files(tmp_path, clip):
    with pytest.raises(ConfigError):
        video.write_frames(clip.astype(np.float32), tmp_path / "a.mp4")
    with pytest.raises(ConfigError):
        video.write_frames(clip[:2], tmp_path / "a.avi")
    target = tmp_path / "b.mp4"
    target.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        video.write_frames(clip[:2], target)
    assert target.read_bytes() == b"keep me"
    video.write_frames(clip[:2], target, overwrite=True)
    assert video.probe_video(target).frame_count == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4"]          # no temporary file left


def test_synthetic_clip_moves_over_the_photo():
    for motion in ("pan", "zoom", "shake"):
        frames = video.synthetic_clip(vf.sample("lake_1.jpg"), 5, (40, 24), motion)
        assert frames.shape == (5, 24, 40, 3) and frames.dtype == np.uint8
        assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1, motion
    with pytest.raises(ConfigError):
        video.synthetic_clip(vf.sample("lake_1.jpg"), 5, motion="spin")
    with pytest.raises(ConfigError):
        video.synthetic_clip(vf.sample("lake_1.jpg"), 0)


# ========================================================================================== colorize_video
@pytest.mark.parametrize("source", ["plain", "audio"])
@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_video_keeps_frame_count_timestamps_and_size(weights, files, ref, tmp_path, suffix, source, request):
    output = tmp_path / f"out{suffix}"
    result = _colorize_video(files[source], ref, output, weights)
    assert result.path == output and result.frames == 12 and result.resumed_from == 0 and result.cuts == (0,)
    assert output.is_file() and not _partial(output).exists()
    assert vf.video_size(output) == (64, 48)
    expected = vf.frame_times(files[source])
    got = vf.frame_times(output)
    assert len(got) == 12
    if suffix == ".mkv" and source == "audio":
        # Documented: Matroska stores no negative times, so the AAC priming (audio from -64 ms) shifts every
        # stream by the same amount; the frames keep their spacing.
        shift = got[0] - expected[0]
        assert 0.01 < shift < 0.2
        expected = np.asarray(expected) + shift
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_video_keeps_frame_rate(weights, files, ref, tmp_path, suffix):
    output = tmp_path / f"out{suffix}"
    _colorize_video(files["plain"], ref, output, weights)
    assert vf.video_rate(output) == 25
    info = video.probe_video(output)
    assert info.fps == 25 and info.duration == pytest.approx(12 / 25)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_audio_is_copied_packet_for_packet_and_stays_in_sync(weights, files, ref, tmp_path, suffix):
    output = tmp_path / f"out{suffix}"
    _colorize_video(files["audio"], ref, output, weights)
    source, copied = vf.audio_packets(files["audio"]), vf.audio_packets(output)
    assert len(copied) == 1 and len(copied[0]) == len(source[0]) > 5
    assert [data for data, _ in copied[0]] == [data for data, _ in source[0]]     # remuxed, not re-encoded
    assert vf.audio_codecs(output) == ["aac"]
    # the offset between the first frame and the first audio packet is the input's (lip sync)
    offset_in = vf.frame_times(files["audio"])[0] - source[0][0][1]
    offset_out = vf.frame_times(output)[0] - copied[0][0][1]
    assert offset_out == pytest.approx(offset_in, abs=1e-3)


def test_odd_frame_size_works(weights, ref, tmp_path):
    frames = video.synthetic_clip(vf.sample("lake_1.jpg"), 6, (65, 47), "pan")
    source = video.write_frames(frames, tmp_path / "odd.mp4")
    output = tmp_path / "odd_out.mp4"
    result = _colorize_video(source, ref, output, weights)
    assert result.frames == 6 and vf.video_size(output) == (65, 47)
    decoded, info = video.read_frames(output)
    assert decoded.shape == (6, 47, 65, 3) and info.frame_count == 6
    l_in = rgb_to_lab_np(frames / 255.0)[..., 0]
    assert np.abs(rgb_to_lab_np(decoded / 255.0)[..., 0] - l_in).mean() < 2.0     # after two H.264 encodes


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_timestamps_are_kept(weights, clip, ref, tmp_path, suffix):
    pts_ms = [0, 40, 70, 150, 160, 240, 245, 300, 420, 430]
    source = vf.write_vfr(tmp_path / "vfr.mkv", clip[:10], pts_ms)
    assert vf.frame_times(source) == pytest.approx(np.array(pts_ms) / 1000)   # the input really is VFR
    output = tmp_path / f"vfr_out{suffix}"
    result = _colorize_video(source, ref, output, weights, segment_frames=4)
    assert result.frames == 10
    np.testing.assert_allclose(vf.frame_times(output), np.array(pts_ms) / 1000, atol=1e-3)


def test_scene_cut_in_a_file_is_reported(weights, clip, ref, tmp_path):
    other = video.synthetic_clip(vf.sample("castle_1.jpg"), 12, SIZE, "pan")[:6]   # 2 px/frame at 32 px
    source = video.write_frames(np.concatenate([clip[:6], other]), tmp_path / "two_shots.mp4")
    result = _colorize_video(source, ref, tmp_path / "out.mp4", weights, segment_frames=4)
    assert result.cuts == (0, 6) and result.frames == 12


def test_strength_zero_writes_a_gray_video(weights, files, ref, tmp_path):
    output = tmp_path / "gray.mp4"
    _colorize_video(files["plain"], ref, output, weights, strength=0.0)
    frames, _ = video.read_frames(output)
    spread = frames.max(axis=-1).astype(int) - frames.min(axis=-1)
    assert spread.max() <= 3                                                      # neutral up to YUV rounding


def test_existing_output_is_untouched_and_overwrite_replaces_it(weights, files, ref, tmp_path):
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="out.mp4"):
        _colorize_video(files["plain"], ref, output, weights)
    assert output.read_bytes() == b"precious" and not _partial(output).exists()
    result = _colorize_video(files["plain"], ref, output, weights, overwrite=True)
    assert result.frames == 12 and video.probe_video(output).frame_count == 12
    assert not _partial(output).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]      # no temporary file left


@pytest.mark.parametrize("name", ["out.avi", "out.gif", "out", "out.mp4.txt"])
def test_unsupported_output_suffix_is_a_config_error(weights, files, ref, tmp_path, name):
    output = tmp_path / name
    with pytest.raises(ConfigError, match="must end in"):
        _colorize_video(files["plain"], ref, output, weights)
    _leaves_nothing(output)


def test_output_equal_to_input_is_a_config_error(weights, clip, ref, tmp_path):
    source = video.write_frames(clip[:4], tmp_path / "in.mp4")
    before = source.read_bytes()
    for output, overwrite in [(source, False), (source, True), (tmp_path / "." / "in.mp4", True)]:
        with pytest.raises(ConfigError, match="input"):
            _colorize_video(source, ref, output, weights, overwrite=overwrite)
    assert source.read_bytes() == before and not _partial(source).exists()


@pytest.mark.parametrize("kwargs", [dict(crf=52), dict(crf=-1), dict(crf=True), dict(crf=18.0),
                                    dict(segment_frames=0), dict(batch_size=0), dict(temporal_weight=1.0),
                                    dict(strength=-0.5)])
def test_bad_options_fail_before_any_work(weights, files, ref, tmp_path, kwargs):
    output = tmp_path / "out.mp4"
    with pytest.raises(ConfigError):
        _colorize_video(files["plain"], ref, output, weights, **kwargs)
    _leaves_nothing(output)


def test_missing_output_folder_is_a_config_error(weights, files, ref, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        _colorize_video(files["plain"], ref, tmp_path / "nowhere" / "out.mp4", weights)


# ================================================================================================= resuming
def _interrupt_after_first_segment(monkeypatch, source, reference, output, weights, **options):
    """Runs colorize_video and raises KeyboardInterrupt right after the first segment is committed."""
    original = video._Job.commit
    calls = []

    def commit_then_interrupt(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls.append(args[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(video._Job, "commit", commit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _colorize_video(source, reference, output, weights, **options)
    monkeypatch.setattr(video._Job, "commit", original)
    assert calls == [0]


def test_interrupted_job_resumes_to_the_same_frames(weights, files, ref, tmp_path, monkeypatch):
    output = tmp_path / "out.mp4"
    _interrupt_after_first_segment(monkeypatch, files["audio"], ref, output, weights, segment_frames=4)
    assert not output.exists()
    partial = _partial(output)
    job = json.loads((partial / "job.json").read_text())
    assert [(s["first"], s["count"]) for s in job["segments"]] == [(0, 4)]
    assert sorted(p.name for p in partial.iterdir()) == [".lock", "job.json", "segment_000000.nut",
                                                         "state_000000.npz"]   # .lock: colorlab.locks.FolderLock

    result = _colorize_video(files["audio"], ref, output, weights, segment_frames=4)
    assert result.resumed_from == 4 and result.frames == 12 and result.cuts == (0,)
    assert not partial.exists()

    reference_run = tmp_path / "uninterrupted.mp4"
    _colorize_video(files["audio"], ref, reference_run, weights, segment_frames=4)
    resumed, _ = video.read_frames(output)
    straight, _ = video.read_frames(reference_run)
    assert resumed.shape == (12, 48, 64, 3)
    _same_frames(resumed, straight)
    assert vf.frame_times(output) == pytest.approx(vf.frame_times(reference_run), abs=1e-6)
    assert vf.audio_packets(output) == vf.audio_packets(reference_run)


def test_an_adapted_job_resumes_with_the_weights_it_started_with(weights, files, ref, tmp_path, monkeypatch):
    """Adapting again is not bit-for-bit repeatable on a multi-threaded CPU, so the job keeps the adapted weights
    and a resume loads them instead of adapting."""
    from colorlab.adapt import ReferenceAdapter, clear_shared_adapters

    clear_shared_adapters()
    output = tmp_path / "out.mp4"
    _interrupt_after_first_segment(monkeypatch, files["plain"], ref, output, weights, segment_frames=4, adapt=2)
    partial = _partial(output)
    assert (partial / "adapted.weights.h5").is_file()
    clear_shared_adapters()                               # as in a new process: nothing adapted in memory
    adapted = []
    real = ReferenceAdapter.adapt
    monkeypatch.setattr(ReferenceAdapter, "adapt", lambda self, *a, **k: adapted.append(1) or real(self, *a, **k))
    result = _colorize_video(files["plain"], ref, output, weights, segment_frames=4, adapt=2)
    assert result.resumed_from == 4 and adapted == [] and not partial.exists()     # loaded, not adapted again
    clear_shared_adapters()
    reference_run = tmp_path / "uninterrupted.mp4"
    _colorize_video(files["plain"], ref, reference_run, weights, segment_frames=4, adapt=2)
    assert adapted == [1]
    _same_frames(video.read_frames(output)[0], video.read_frames(reference_run)[0])
    plain = tmp_path / "plain.mp4"
    _colorize_video(files["plain"], ref, plain, weights, segment_frames=4)
    assert not np.array_equal(video.read_frames(plain)[0], video.read_frames(reference_run)[0])   # it did adapt


def test_leftover_job_for_other_options_needs_restart(weights, files, ref, tmp_path, monkeypatch):
    output = tmp_path / "out.mp4"
    _interrupt_after_first_segment(monkeypatch, files["plain"], ref, output, weights, segment_frames=4)
    job_file = _partial(output) / "job.json"
    before = job_file.read_bytes()
    with pytest.raises(ColorlabError, match="restart") as error:
        _colorize_video(files["plain"], ref, output, weights, segment_frames=4, strength=0.5)
    assert str(_partial(output)) in str(error.value)
    assert job_file.read_bytes() == before and not output.exists()      # the old job is kept, untouched
    result = _colorize_video(files["plain"], ref, output, weights, segment_frames=4, strength=0.5, restart=True)
    assert result.resumed_from == 0 and result.frames == 12
    assert output.is_file() and not _partial(output).exists()


def test_damaged_job_file_needs_restart(weights, files, ref, tmp_path):
    output = tmp_path / "out.mp4"
    _partial(output).mkdir()
    (_partial(output) / "job.json").write_text("{ not json")
    with pytest.raises(ColorlabError, match="damaged.*restart"):
        _colorize_video(files["plain"], ref, output, weights)
    assert not output.exists()
    result = _colorize_video(files["plain"], ref, output, weights, restart=True)
    assert result.frames == 12 and not _partial(output).exists()


def test_killed_command_resumes_without_lost_or_repeated_frames(weights, ref, tmp_path):
    """``python -m colorlab video`` killed (SIGKILL) after its first 48-frame segment, then run again."""
    frames = np.concatenate([video.synthetic_clip(vf.sample("lake_1.jpg"), 120, SIZE, "pan"),
                             video.synthetic_clip(vf.sample("castle_1.jpg"), 120, SIZE, "pan")])
    source = video.write_frames(frames, tmp_path / "long.mp4", audio=vf.tone(16000 * 10))
    reference = vf.sample("parrot.jpg")
    output = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "colorlab", "video", str(source), "-r", str(reference), "-o", str(output),
               "-w", str(weights)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    job_file = _partial(output) / "job.json"

    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    done = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            try:
                done = json.loads(job_file.read_text())["segments"]
            except (OSError, ValueError, KeyError):
                done = []
            if done:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    assert not output.exists()
    done = json.loads(job_file.read_text())["segments"]        # what survived the kill
    assert 1 <= len(done) < 5

    rerun = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"resumed at frame {48 * len(done)}" in rerun.stdout
    assert "240 frames" in rerun.stdout and "2 shot(s)" in rerun.stdout
    assert not _partial(output).exists()

    straight = tmp_path / "straight.mp4"
    result = video.colorize_video(source, reference, straight, weights=weights, progress=False)   # CLI defaults
    assert result.cuts == (0, 120)
    resumed_frames, info = video.read_frames(output)
    straight_frames, _ = video.read_frames(straight)
    assert info.frame_count == 240 and resumed_frames.shape[0] == 240
    _same_frames(resumed_frames, straight_frames)
    np.testing.assert_allclose(vf.frame_times(output), vf.frame_times(source), atol=1e-3)
    assert vf.audio_packets(output) == vf.audio_packets(straight)


# ================================================================================================ bad input
def _bad_missing(folder, clip):
    return folder / "missing.mp4"


def _bad_empty(folder, clip):
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return path


def _bad_text(folder, clip):
    path = folder / "notes.mp4"
    path.write_text("this is not a video\n" * 40)
    return path


def _bad_still(folder, clip):
    from PIL import Image

    path = folder / "still.jpg"
    Image.fromarray(clip[0]).save(path)
    return path


def _bad_truncated_mp4(folder, clip):
    data = video.write_frames(clip, folder / "whole.mp4").read_bytes()
    path = folder / "truncated.mp4"
    path.write_bytes(data[:len(data) // 2])
    return path


def _bad_truncated_avi(codec):
    def build(folder, clip):
        whole = vf.write_avi(folder / f"whole_{codec}.avi", clip, codec)
        return vf.truncate_avi(whole, folder / f"truncated_{codec}.avi", keep=6)    # 6 of the 12 frames
    return build


def _bad_audio_only(container_format, suffix):
    def build(folder, clip):
        return vf.write_audio_only(folder / f"sound{suffix}", container_format=container_format)
    return build


def _bad_zero_frames(folder, clip):
    return vf.write_video_without_frames(folder / "no_frames.mkv")


def _bad_unknown_codec(folder, clip):
    whole = vf.write_avi(folder / "whole.avi", clip, "mjpeg")
    return vf.replace_avi_fourcc(whole, folder / "zzzz.avi")


BAD_INPUTS = {
    "missing": (_bad_missing, "no such file"),
    "empty": (_bad_empty, "empty"),
    "text": (_bad_text, "not a video"),
    "still image": (_bad_still, "still image"),
    "truncated mp4": (_bad_truncated_mp4, "truncated"),
    "truncated mjpeg avi": (_bad_truncated_avi("mjpeg"), "truncated"),
    "truncated mpeg4 avi": (_bad_truncated_avi("mpeg4"), "truncated"),
    "audio only m4a": (_bad_audio_only("mp4", ".m4a"), "no video stream"),
    "audio only mka": (_bad_audio_only("matroska", ".mka"), "no video stream"),
    "zero frames": (_bad_zero_frames, "no frames"),
    "unknown codec": (_bad_unknown_codec, "cannot be decoded"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_clear_video_error_and_leaves_nothing(weights, clip, ref, tmp_path, case):
    build, fragment = BAD_INPUTS[case]
    source = build(tmp_path, clip[:12])
    with pytest.raises(VideoError) as probed:
        video.probe_video(source)
    output = tmp_path / "out.mp4"
    with pytest.raises(VideoError) as error:
        _colorize_video(source, ref, output, weights, segment_frames=4)
    message = str(error.value)
    assert str(source) in message and fragment in message, message
    assert "\n" not in message and len(message) < 400
    assert str(probed.value) == message
    _leaves_nothing(output)
    with pytest.raises(VideoError):
        video.read_frames(source)


def test_unknown_fourcc_leaves_ffmpeg_without_a_decoder(clip, tmp_path):
    """What FFmpeg makes of the "ZZZZ" AVI: a video stream it finds, but no codec (so no decoder) for it."""
    import av

    whole = vf.write_avi(tmp_path / "whole.avi", clip[:4], "mjpeg")
    assert vf.avi_fourcc(whole.read_bytes()) == (b"MJPG", b"MJPG")
    broken = vf.replace_avi_fourcc(whole, tmp_path / "zzzz.avi")
    assert vf.avi_fourcc(broken.read_bytes()) == (b"ZZZZ", b"ZZZZ")
    with av.open(str(broken)) as container:
        assert len(container.streams.video) == 1
        assert container.streams.video[0].codec_context is None
    with pytest.raises(VideoError, match="codec"):
        video.probe_video(broken)


def test_decoding_failure_midway_removes_the_partial_work(weights, clip, ref, tmp_path):
    """An AVI cut inside its last frame: the demuxer sees 12 frames (probe passes), the decoder fails on the
    12th, after two 4-frame segments were committed: a VideoError, and no output and no resume folder remain."""
    whole = vf.write_avi(tmp_path / "whole.avi", clip, "mjpeg")
    source = vf.truncate_avi(whole, tmp_path / "cut_in_frame.avi", keep=11.5)
    assert video.probe_video(source).frame_count == 12
    output = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match="truncated or corrupt") as error:
        _colorize_video(source, ref, output, weights, segment_frames=4)
    assert str(source) in str(error.value)
    _leaves_nothing(output)


def test_avi_missing_its_last_frame_is_truncated(clip, tmp_path):
    whole = vf.write_avi(tmp_path / "whole.avi", clip, "mjpeg")
    source = vf.truncate_avi(whole, tmp_path / "eleven.avi", keep=11)
    import av

    with av.open(str(source)) as container:           # the header still promises 12 frames
        assert container.streams.video[0].frames == 12
    with pytest.raises(VideoError, match="truncated"):
        video.probe_video(source)


def test_audio_the_output_container_cannot_hold_is_a_video_error(weights, clip, ref, tmp_path):
    source = vf.write_with_audio_codec(tmp_path / "flac.mkv", clip[:4], "flac")
    output = tmp_path / "out.mov"
    with pytest.raises(VideoError, match="mkv"):
        _colorize_video(source, ref, output, weights)
    _leaves_nothing(output)


# ================================================================================================ the CLI
def _cli(capsys, *args):
    from colorlab.cli import main

    code = main(["video", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", ["missing input", "text input", "bad suffix", "output exists", "bad crf"])
def test_cli_errors_are_one_line_with_exit_status_2(weights, files, tmp_path, capsys, case):
    source, output, extra = files["plain"], tmp_path / "out.mp4", []
    if case == "missing input":
        source = tmp_path / "nothing.mp4"
    elif case == "text input":
        source = _bad_text(tmp_path, None)
    elif case == "bad suffix":
        output = tmp_path / "out.avi"
    elif case == "output exists":
        output.write_bytes(b"precious")
    else:
        extra = ["--crf", "99"]
    code, out, err = _cli(capsys, source, "-r", vf.sample("parrot.jpg"), "-o", output, "-w", weights, *extra)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("colorlab: error: "), err
    assert "Traceback" not in err
    if case in ("missing input", "text input"):
        assert str(source) in lines[0]
    if case == "output exists":
        assert output.read_bytes() == b"precious" and "--overwrite" in lines[0]
    else:
        assert not output.exists()
    assert not _partial(output).exists()


def test_cli_usage_error_without_reference(files, tmp_path, capsys):
    from colorlab.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["video", str(files["plain"]), "-o", str(tmp_path / "out.mp4")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--reference" in err and "Traceback" not in err


def test_cli_success_prints_wrote(weights, files, tmp_path, capsys):
    output = tmp_path / "out.mkv"
    code, out, _ = _cli(capsys, files["audio"], "-r", vf.sample("parrot.jpg"), "-o", output, "-w", weights,
                        "--batch-size", "4", "--temporal-weight", "0.5")
    assert code == 0
    assert out.startswith(f"wrote {output}: 12 frames, 1 shot(s)") and "frames/s" in out
    assert "resumed" not in out
    assert video.probe_video(output).frame_count == 12 and not _partial(output).exists()


def test_cli_interrupt_keeps_the_partial_work_and_says_so(weights, files, tmp_path, capsys, monkeypatch):
    def interrupt(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(video._Job, "commit", interrupt)
    output = tmp_path / "out.mp4"
    code, out, err = _cli(capsys, files["plain"], "-r", vf.sample("parrot.jpg"), "-o", output, "-w", weights,
                          "--batch-size", "4")
    assert code == 130 and out == ""
    assert "interrupted" in err and str(_partial(output)) in err and "again" in err
    assert (_partial(output) / "job.json").is_file() and not output.exists()


# ============================================================================================ evaluate_clip
def test_evaluate_clip_rows(weights, clip):
    frames = clip[:6]
    rows = video.evaluate_clip(frames, weights=weights, **FAST)
    assert [row["method"] for row in rows] == ["per-frame", f"propagated (w={video.TEMPORAL_WEIGHT:g})",
                                               "ground truth"]
    for row in rows:
        assert set(row) == {"method", "psnr", "ssim", "cdc", "warping_error", "cuts"}
        assert np.isfinite(row["cdc"]) and row["cdc"] >= 0
        assert np.isfinite(row["warping_error"]) and row["warping_error"] >= 0
    for row in rows[:2]:
        assert np.isfinite(row["psnr"]) and 5 < row["psnr"] < 60
        assert np.isfinite(row["ssim"]) and -1 <= row["ssim"] <= 1
        assert row["cuts"] == 1
    truth = rows[2]
    assert np.isnan(truth["psnr"]) and np.isnan(truth["ssim"]) and truth["cuts"] == 0
    assert truth["cdc"] == pytest.approx(cdc(frames / 255.0), rel=1e-9)
    with pytest.raises(ConfigError):
        video.evaluate_clip(frames[:1], weights=weights)


def test_evaluate_clip_scores_a_baseline_frame_by_frame(weights, clip):
    from colorlab.baselines import global_mean_ab
    from colorlab.metrics import psnr

    frames = clip[:4]
    rows = video.evaluate_clip(frames, weights=weights, temporal_weights=(0.0,), baselines=("global_mean_ab",))
    assert [row["method"] for row in rows] == ["per-frame", "global_mean_ab", "ground truth"]
    truth = frames / 255.0
    expected = np.mean([psnr(global_mean_ab(frame, truth[0]), frame) for frame in truth])
    assert rows[1]["psnr"] == pytest.approx(expected, abs=1e-4) and rows[1]["cuts"] == 0
    assert rows[1]["cdc"] >= 0 and np.isfinite(rows[1]["warping_error"])
    with pytest.raises(ConfigError, match="unknown baselines"):
        video.evaluate_clip(frames, weights=weights, baselines=("sepia",))


def _same_frames(got, expected):
    """The same frames in the same order, bit for bit (the model call repeats exactly, and so does x264)."""
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), np.abs(got.astype(np.int16) - expected).mean(axis=(1, 2, 3))
