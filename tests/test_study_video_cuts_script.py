"""scripts/study_video_cuts.py on tiny clips: each clip coloured as trained and adapted, PSNR split at the cut, the
report written into its marked section only.

Offline and CI-safe: the dev folder is built here from data/samples photos; the model is the `weights` fixture
(tiny), given a recommendation of 2 adaptation steps beside a copy of it.
"""

import json
import re
import shutil

import numpy as np
import pytest

from places_tree import write_sample_val_folder
from scripts_loader import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("study_video_cuts")


@pytest.fixture(scope="module")
def dev_folder(tmp_path_factory):
    """Three sample photos of two classes, 64 x 64 (each clip's second shot comes from the other class)."""
    return write_sample_val_folder(tmp_path_factory.mktemp("corpus"), ["/a/animal", "/l/landscape"],
                                   [("cat_1", 0), ("dog_1", 0), ("lake_1", 1)], (64, 64))


@pytest.fixture(scope="module")
def adapting_weights(weights, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapting")
    path = folder / "tiny.weights.h5"
    shutil.copy(weights, path)
    config = json.loads(weights.with_name("tiny.json").read_text())
    (folder / "tiny.json").write_text(json.dumps({**config, "adapt": {"steps": 2}}))
    return path


def test_the_study_splits_each_clip_at_its_cut_and_writes_its_section(script, dev_folder, adapting_weights,
                                                                      tmp_path, capsys):
    from colorlab.metrics import psnr
    from colorlab.video import colorize_frames, synthetic_clip

    out = tmp_path / "video_eval.md"
    out.write_text("Kept.\n<!-- eval_video:cuts:begin -->\nstale\n<!-- eval_video:cuts:end -->\nTail.\n")
    argv = ["--corpus", str(dev_folder), "--clips", "2", "--clip-frames", "6", "--size", "48x32",
            "--weights", str(adapting_weights), "--out", str(out)]
    assert script.main(argv) == 0
    text = out.read_text()
    assert text.startswith("Kept.\n<!-- eval_video:cuts:begin -->\n")
    assert text.endswith("<!-- eval_video:cuts:end -->\nTail.\n")
    assert "stale" not in text and "(2 steps, as `colorlab video`)" in text
    assert re.search(r"Code measured: `colorlab/video.py` [0-9a-f]{12}", text)
    rows = [line for line in text.splitlines() if re.match(r"\| Places365_val_\d+ ", line)]
    assert len(rows) == 2 and all("→" in row for row in rows)
    values = np.array([[float(cell) for cell in row.strip("|").split("|")[1:]] for row in rows])
    assert np.all(np.isfinite(values)) and not np.allclose(values[:, 3], values[:, 2])   # adapting changed shot 2

    # the first clip's "shot 2 trained" number, recomputed by hand: the last 3 of 6 frames are the second photo's pan
    photos, items, _ = script.dev_photos(dev_folder, 2, 0)
    second = script.cut_partner(photos[0], items, 0)
    truth = np.concatenate([synthetic_clip(photos[0][0], 6, (48, 32), "pan")[:3],
                            synthetic_clip(second[0], 6, (48, 32), "pan")[:3]])
    coloured = colorize_frames(truth, truth[0], weights=adapting_weights, adapt=0)
    expected = np.mean(psnr(coloured[3:] / 255.0, truth[3:] / 255.0))
    assert values[0, 2] == pytest.approx(expected, abs=0.006)
    assert text.count("adapted − trained") == 3 and f"--out {out}" in text


def test_bad_input_is_one_line_and_status_2(script, tmp_path, capsys):
    assert script.main(["--corpus", str(tmp_path / "missing")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("study_video_cuts: ") and "\n" not in error
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--size", "4x4"])
    assert exit_info.value.code == 2
