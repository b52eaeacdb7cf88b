"""Exercise checkers: every reference solution passes its own checker, wrong answers are rejected, stubs fall back.

The generic tests run over every function exercise of every chapter module in ``exercise_params.CHAPTERS``. The
build-it exercises (Keras layers, keras.ops functions, the training step) have their own tests in
``tests/test_build_exercises.py``.
Chapter-specific tests (reference solutions against hand-computed or scikit-image values) follow below.
"""

import importlib

import numpy as np
import pytest

from colorlab.errors import ExerciseError
from colorlab.exercises import FIX_HINT, GRADE_LOG, Exercise
from exercise_params import CHAPTERS, exercise_params

EXERCISES = exercise_params(Exercise)


def _chapter(module_name, name):
    module = importlib.import_module(module_name)
    return module.check, module.check.exercises[name]


def _off_by_one(solution):
    """A wrong answer of the right shape: the reference plus 1 everywhere."""
    def wrong(*args):
        return np.asarray(solution(*args), dtype=np.float64) + 1.0
    return wrong


@pytest.mark.parametrize("module_name, name", EXERCISES)
def test_reference_solution_passes_and_is_returned(module_name, name, capsys):
    check, exercise = _chapter(module_name, name)
    assert len(exercise.cases) >= 2, "check each exercise on at least two inputs"
    returned = check(name, exercise.solution)
    assert returned is exercise.solution
    assert capsys.readouterr().out.strip() == f"✓ {name}: correct"


@pytest.mark.parametrize("module_name, name", EXERCISES)
def test_wrong_answer_stops_the_notebook_naming_the_case(module_name, name, capsys):
    check, exercise = _chapter(module_name, name)
    wrong = _off_by_one(exercise.solution)
    with pytest.raises(ExerciseError) as raised:
        check(name, wrong)
    assert str(raised.value).startswith(f"✗ {name}: case 0 is off by up to 1"), raised.value
    assert str(raised.value).endswith(FIX_HINT)
    assert capsys.readouterr().out == ""


def _stub(*args):
    """What a student notebook's exercise holds until it is written (``colorlab course release``)."""
    raise NotImplementedError


@pytest.mark.parametrize("unwritten", [_stub, lambda *args: None], ids=["NotImplementedError", "None"])
@pytest.mark.parametrize("module_name, name", EXERCISES)
def test_unwritten_answer_falls_back_to_the_reference(module_name, name, unwritten, capsys):
    check, exercise = _chapter(module_name, name)
    returned = check(name, unwritten)
    assert returned is exercise.solution
    assert capsys.readouterr().out.strip() == (
        f"✗ {name}: not written yet — the notebook goes on with the reference solution")


@pytest.mark.parametrize("module_name, name", EXERCISES[:3])
def test_while_grading_every_check_is_logged_and_a_wrong_answer_falls_back(module_name, name, tmp_path,
                                                                          monkeypatch, capsys):
    import json

    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG, str(log))
    check, exercise = _chapter(module_name, name)
    assert check(name, _off_by_one(exercise.solution)) is exercise.solution   # no ExerciseError while grading
    assert check(name, _stub) is exercise.solution
    assert check(name, exercise.solution) is exercise.solution
    assert capsys.readouterr().out.startswith(f"✗ {name}: case 0 is off by up to 1")
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    chapter = module_name.rsplit(".", 1)[-1]
    assert [(row["chapter"], row["exercise"], row["status"]) for row in rows] == [
        (chapter, name, "wrong"), (chapter, name, "unwritten"), (chapter, name, "correct")]


@pytest.mark.parametrize("module_name, name", EXERCISES)
def test_wrong_shape_and_crash_are_reported(module_name, name):
    check, exercise = _chapter(module_name, name)
    with pytest.raises(ExerciseError, match=r"case 0 has shape \(7, 1, 3\)"):
        check(name, lambda *args: np.zeros((7, 1, 3)))

    def crashes(*args):
        raise ValueError("boom")

    with pytest.raises(ExerciseError) as raised:
        check(name, crashes)
    assert str(raised.value) == f"✗ {name}: case 0 raised ValueError: boom — {FIX_HINT}"
    assert isinstance(raised.value.__cause__, ValueError)      # the student's traceback is kept


@pytest.mark.parametrize("module_name", CHAPTERS)
def test_unknown_exercise_name_is_a_key_error_listing_the_names(module_name):
    module = importlib.import_module(module_name)
    with pytest.raises(KeyError, match="this chapter has"):
        module.check("no_such_exercise", lambda: None)


# --- chapter 01: the reference solutions against independent values --------------------------------------------

def test_ch01_chroma_hue_hand_values():
    from colorlab.exercises.ch01 import chroma_hue

    ab = np.array([[30.0, 40.0], [0.0, 0.0], [-20.0, 0.0], [0.0, -50.0], [10.0, 10.0], [1.0, -1e-9]])
    chroma, hue = chroma_hue(ab)
    np.testing.assert_allclose(chroma, [50.0, 0.0, 20.0, 50.0, np.sqrt(200.0), 1.0], atol=1e-12)
    np.testing.assert_allclose(hue[:5], [np.degrees(np.arctan(4 / 3)), 0.0, 180.0, 270.0, 45.0], atol=1e-9)
    assert 359.9 < hue[5] < 360.0  # just below +a: wraps to the top of [0, 360), not to a negative angle


def test_ch01_ab_to_bin_hand_values():
    from colorlab.exercises.ch01 import ab_to_bin

    ab = np.array([[0.0, 0.0], [110.0, 110.0], [-110.0, 110.0], [300.0, -300.0], [5.4, -5.6], [-110.0, -110.0]])
    assert ab_to_bin(ab).tolist() == [220, 440, 20, 420, 219, 0]
    # 5 bins over ±100: centres −100, −50, 0, 50, 100 → (26, −24) is nearest (50, 0), i.e. (3, 2) → 3·5 + 2 = 17
    assert int(ab_to_bin(np.array([26.0, -24.0]), 5, 100.0)) == 17


def test_ch01_ab_to_bin_agrees_with_the_hard_histogram():
    color = pytest.importorskip("colorlab.color")
    from colorlab.exercises.ch01 import ab_to_bin

    rng = np.random.default_rng(7)
    ab = rng.uniform(-130.0, 130.0, size=(12, 2))
    for value in ab:
        histogram = np.asarray(color.hard_ab_histogram(value.reshape(1, 1, 1, 2))).reshape(-1)
        assert histogram.shape == (441,)
        assert int(np.argmax(histogram)) == int(ab_to_bin(value))
        assert histogram[int(ab_to_bin(value))] == pytest.approx(1.0)


def test_ch01_make_gray_keeps_l_and_removes_colour():
    skcolor = pytest.importorskip("skimage.color")
    from colorlab.exercises.ch01 import make_gray

    rng = np.random.default_rng(3)
    rgb = rng.uniform(0.0, 1.0, size=(4, 5, 3)).astype(np.float32)
    gray = make_gray(rgb)
    assert gray.shape == (4, 5, 3) and gray.dtype == np.float32
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-3)
    np.testing.assert_allclose(gray[..., 1], gray[..., 2], atol=1e-3)
    # Independent route: scikit-image's Lab with ab zeroed.
    lab = skcolor.rgb2lab(rgb.astype(np.float64))
    lab[..., 1:] = 0.0
    np.testing.assert_allclose(gray, skcolor.lab2rgb(lab), atol=2e-3)
    np.testing.assert_allclose(skcolor.rgb2lab(gray.astype(np.float64))[..., 0], skcolor.rgb2lab(rgb)[..., 0],
                               atol=0.05)


# --- chapter 02: the reference solutions against hand values and against colorlab.data ---------------------------

def test_ch02_count_other_pairs_hand_values_and_make_pairs():
    from colorlab.data import make_pairs
    from colorlab.exercises.ch02 import count_other_pairs

    assert count_other_pairs([0, 0, 1, 1, 1, 2], 0.5) == 3      # round(3) = 3, 5 eligible
    assert count_other_pairs([0, 0, 1, 1, 1, 2], 1.0) == 5      # capped: label 2 is alone
    assert count_other_pairs([0, 0, 0, 1, 1], 0.5) == 2        # round(2.5) = 2, ties to even
    assert count_other_pairs([0, 1, 2, 3], 0.75) == 0           # nobody has a class-mate
    rng = np.random.default_rng(0)
    for seed in range(40):
        labels = rng.integers(0, 6, size=int(rng.integers(1, 25)))
        ratio = float(rng.uniform())
        drawn = sum(mode == "other" for _, _, mode in make_pairs([(None, int(l)) for l in labels],
                                                                 mode_ratio=ratio, seed=seed))
        assert count_other_pairs(labels, ratio) == drawn


def test_ch02_crop_box_hand_values_and_resize_and_crop():
    from colorlab.data import resize_and_crop
    from colorlab.exercises.ch02 import crop_box

    assert crop_box(300, 200, 64).tolist() == [96, 64, 16, 0]     # s = 0.32
    assert crop_box(375, 500, 128).tolist() == [128, 171, 0, 21]  # 500 * 128 / 375 = 170.67 -> 171
    assert crop_box(256, 256, 128).tolist() == [128, 128, 0, 0]
    # A photo whose left half is black and right half white: the crop's left edge sits at 'left' resized pixels.
    image = np.zeros((40, 100, 3), np.float32)
    image[:, 50:] = 1.0
    new_h, new_w, top, left = crop_box(40, 100, 20)
    assert (new_h, new_w, top, left) == (20, 50, 0, 15)
    out = resize_and_crop(image, 20)
    assert out.shape == (20, 20, 3)
    # the black/white edge is at resized column 25, i.e. crop column 25 - left = 10
    assert out[:, 8].max() < 0.05 and out[:, 12].min() > 0.95
