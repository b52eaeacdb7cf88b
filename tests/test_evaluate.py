"""colorlab.evaluate: dev pairs (protocol geometry, determinism), the method x metric table, hand-checked gray
baseline scores, the contact sheet, and ``colorlab eval`` (in-process through ``colorlab.cli.main``).

The Places365-layout folder is generated in tmp_path (small synthetic photos); the real corpus is not needed.
"""

import csv
import math
import pathlib

import numpy as np
import pytest
from PIL import Image

import colorlab.evaluate as ev
from colorlab.cli import main
from colorlab.baselines import gray
from colorlab.cie import rgb_to_lab_np
from colorlab.errors import ConfigError
from colorlab.metrics import colourfulness, histogram_intersection

SIZE = 32
# val list: class 0 has two photos, class 1 has two, class 2 has one (no class-mate: skipped under "other").
VAL_LABELS = [0, 1, 0, 2, 1]


def _photo(seed, height=SIZE, width=SIZE):
    """A smooth, colourful synthetic photo, uint8 (H, W, 3); columns differ so crops are recognisable."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / SIZE
    phase = rng.uniform(0, 3, size=3)
    rgb = np.stack([0.5 + 0.4 * np.sin(4 * x + phase[0]), 0.5 + 0.4 * np.cos(3 * y + phase[1]),
                    0.5 + 0.3 * np.sin(2 * (x + y) + phase[2])], axis=-1)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("places")
    (root / "categories_places365.txt").write_text("/a/animal 0\n/b/building 1\n/c/coast 2\n")
    (root / "places365_train_standard.txt").write_text("/a/animal/00000001.jpg 0\n")
    (root / "data_256" / "a" / "animal").mkdir(parents=True)
    Image.fromarray(_photo(99)).save(root / "data_256" / "a" / "animal" / "00000001.jpg")
    (root / "val_256").mkdir()
    lines = []
    for k, label in enumerate(VAL_LABELS, start=1):
        name = f"Places365_val_{k:08d}.png"   # PNG: lossless, so the loaded pixels are exactly _photo's
        Image.fromarray(_photo(k, width=SIZE + 8)).save(root / "val_256" / name)
        lines.append(f"{name} {label}")
    (root / "places365_val.txt").write_text("\n".join(lines) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ pairs
def test_view_crops_geometry_hand_computed():
    photo = np.arange(10)[None, :, None].repeat(2, axis=0).repeat(3, axis=2).astype(np.float32)   # column index
    target, reference = ev.view_crops(photo)
    # W = 10, w = round(6.0) = 6: target columns 0..5, reference columns 4..9, shared columns 4, 5 (20 %).
    assert target[0, :, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert reference[0, :, 0].tolist() == [4, 5, 6, 7, 8, 9]
    # The 256-px corpus photos: w = 154, 52 shared columns.
    t, r = ev.view_crops(np.zeros((4, 256, 3)))
    assert t.shape[1] == r.shape[1] == 154 and 2 * 154 - 256 == 52
    with pytest.raises(ConfigError, match="fraction"):
        ev.view_crops(photo, fraction=0.4)


def test_view_pairs_ground_truth_is_the_targets_colours(folder):
    pairs = ev.dev_pairs(folder, "view")
    assert len(pairs) == len(VAL_LABELS) and pairs.skipped == []
    width = SIZE + 8
    w = round(0.6 * width)                      # 24 of 40 columns
    for k, pair in enumerate(pairs, start=1):
        photo = _photo(k, width=width).astype(np.float32) / 255
        np.testing.assert_allclose(pair.target_rgb, photo[:, :w], atol=1e-6)
        np.testing.assert_allclose(pair.reference_rgb, photo[:, width - w:], atol=1e-6)
        # the overlap: the reference's first 2w - W columns are the target's last ones
        np.testing.assert_array_equal(pair.reference_rgb[:, :2 * w - width], pair.target_rgb[:, width - w:])
        # the gray input has exactly the ground truth's L*
        lab_gray = rgb_to_lab_np(np.repeat(pair.target_gray[..., None].astype(np.float64), 3, axis=-1))
        np.testing.assert_allclose(lab_gray[..., 0], rgb_to_lab_np(pair.target_rgb)[..., 0], atol=1e-3)
        assert pair.protocol == "view" and pair.label == VAL_LABELS[k - 1]


def test_other_pairs_same_class_skip_and_determinism(folder):
    pairs = ev.dev_pairs(folder, "other", seed=3)
    assert pairs.skipped == ["other:Places365_val_00000004"]   # class 2 has one val photo
    assert len(pairs) == 4
    stems = {k: _photo(k, width=SIZE + 8) for k in range(1, 6)}
    for pair in pairs:
        target_stem, reference_stem = pair.pair_id.split(":")[1].split("<-")
        t, r = int(target_stem[-2:]), int(reference_stem[-2:])
        assert t != r and VAL_LABELS[t - 1] == VAL_LABELS[r - 1]     # a different photo of the same class
        np.testing.assert_allclose(pair.reference_rgb, stems[r] / 255, atol=1e-6)
        np.testing.assert_allclose(pair.target_rgb, stems[t] / 255, atol=1e-6)
    again = ev.dev_pairs(folder, "other", seed=3)
    assert [p.pair_id for p in again] == [p.pair_id for p in pairs]
    limited = ev.dev_pairs(folder, "view", limit=2, seed=1)
    assert len(limited) == 2 and [p.pair_id for p in limited] == [p.pair_id for p in
                                                                  ev.dev_pairs(folder, "view", limit=2, seed=1)]
    with pytest.raises(ConfigError, match="protocol"):
        ev.dev_pairs(folder, "sideways")


# --------------------------------------------------------------------------------------------- evaluate
def test_table_has_every_method_and_metric(folder):
    pairs = ev.dev_pairs(folder, "view", limit=2)
    outputs = {}
    rows, summary = ev.evaluate_methods(pairs, ev.baseline_methods(), progress=False, outputs=outputs)
    assert len(rows) == 2 * 3 and {len(v) for v in outputs.values()} == {2}
    assert [e["method"] for e in summary] == ["gray", "global_mean_ab", "welsh"]
    table = ev.format_table(summary)
    for name in ("gray", "global_mean_ab", "welsh"):
        assert f"| {name} |" in table
    for label in ev.METRIC_LABELS.values():
        assert label in table
    # the summary is the mean of the rows
    welsh = [r["ciede2000"] for r in rows if r["method"] == "welsh"]
    assert summary[2]["ciede2000"] == pytest.approx(np.mean(welsh))
    for row in rows:   # every baseline keeps the input's lightness
        assert row["l_error"] < 0.05
    with pytest.raises(ConfigError, match="shape"):
        ev.evaluate_methods(pairs, {"bad": lambda g, r: np.zeros((3, 3, 3))}, progress=False)


def test_gray_baseline_colourfulness_zero_and_his_by_hand():
    # Reference: 6 neutral gray pixels (ab = 0: the centre bin) and 2 saturated red ones (far from the centre).
    reference = np.full((2, 4, 3), 0.5, dtype=np.float32)
    reference[0, :2] = (1.0, 0.0, 0.0)
    target = np.linspace(0.2, 0.8, 11 * 11, dtype=np.float32).reshape(11, 11)
    out = gray(target, reference)
    assert colourfulness(out) == 0.0
    # Output: every pixel in the centre bin; reference: 6/8 there -> HIS = min(1, 6/8) + 0 = 0.75.
    assert histogram_intersection(out, reference) == pytest.approx(0.75, abs=1e-6)
    pair = ev.DevPair("x", "view", np.repeat(target[..., None], 3, axis=-1), target, reference)
    rows, summary = ev.evaluate_methods([pair], {"gray": gray}, progress=False)
    assert rows[0]["colourfulness"] == 0.0 and rows[0]["his"] == pytest.approx(0.75, abs=1e-6)
    assert rows[0]["psnr"] == np.inf and summary[0]["n_inf_psnr"] == 1   # gray on a gray truth: identical


def test_contact_sheet_layout(folder, tmp_path):
    pairs = ev.dev_pairs(folder, "view", limit=3)
    outputs = {"gray": [gray(p.target_gray) for p in pairs]}
    path = ev.contact_sheet(pairs, outputs, tmp_path / "sheet.png", max_rows=2, cell=32)
    sheet = np.asarray(Image.open(path))
    assert sheet.shape == (20 + 2 * 32, 4 * 32, 3)    # 2 rows; gray | reference | gray method | truth
    cell = sheet[20:52, 96:128].astype(np.float64)    # row 0's ground truth is coloured, the gray input is not
    assert np.ptp(cell, axis=-1).max() > 20 and np.ptp(sheet[20:52, 0:32].astype(int), axis=-1).max() <= 1


def test_test_split_pairs_come_from_the_test_list_only(folder, tmp_path):
    import shutil

    root = pathlib.Path(shutil.copytree(folder, tmp_path / "places"))
    (root / "test_256").mkdir()
    for k in (1, 2):
        Image.fromarray(_photo(50 + k)).save(root / "test_256" / f"Places365_test_{k:08d}.png")
    (root / "places365_test.txt").write_text("Places365_test_00000001.png 1\nPlaces365_test_00000002.png 1\n")
    view = ev.dev_pairs(root, "view", split="test")
    assert [p.pair_id for p in view] == ["view:Places365_test_00000001", "view:Places365_test_00000002"]
    other = ev.dev_pairs(root, "other", split="test")     # each other's class-mate: never a val photo
    assert [p.pair_id for p in other] == ["other:Places365_test_00000001<-Places365_test_00000002",
                                          "other:Places365_test_00000002<-Places365_test_00000001"]
    with pytest.raises(ConfigError, match="split must be 'val' or 'test'"):
        ev.dev_pairs(root, "view", split="train")


# ------------------------------------------------------------------------------------------------- CLI
def test_cli_writes_three_files_and_refuses_to_overwrite(folder, weights, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["eval", "--data", str(folder), "--weights", str(weights), "--protocol", "view", "--limit", "2",
            "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| gray2colornet |" in printed and "| welsh |" in printed
    assert sorted(p.name for p in out.iterdir()) == ["contact_sheet_view.png", "rows.csv", "summary.md"]
    with open(out / "rows.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 4 and {r["method"] for r in rows} == {"gray", "global_mean_ab", "welsh",
                                                                  "gray2colornet"}
    assert (out / "summary.md").read_text() == printed
    assert "gray2colornet − welsh (`view`, 95 % bootstrap interval over pairs): PSNR " in printed
    before = (out / "rows.csv").read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err
    assert (out / "rows.csv").read_bytes() == before
    assert main(argv[:-4] + ["--no-model", "--protocol", "view", "--limit", "1", "--out", str(out),
                             "--overwrite"]) == 0
    assert "gray2colornet" not in (out / "summary.md").read_text()


def test_cli_adapts_the_model_to_each_reference_with_a_flag(folder, weights, tmp_path, capsys):
    argv = ["eval", "--data", str(folder), "--weights", str(weights), "--protocol", "view", "--limit", "2"]
    assert main(argv + ["--out", str(tmp_path / "plain")]) == 0
    assert main(argv + ["--out", str(tmp_path / "adapted"), "--adapt", "2"]) == 0
    capsys.readouterr()

    def model_rows(name):
        with open(tmp_path / name / "rows.csv", newline="") as handle:
            return [row for row in csv.DictReader(handle) if row["method"] == "gray2colornet"]

    plain, adapted = model_rows("plain"), model_rows("adapted")
    assert [r["pair"] for r in plain] == [r["pair"] for r in adapted]
    assert [r["ciede2000"] for r in plain] != [r["ciede2000"] for r in adapted]
    assert main(argv + ["--adapt", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "colorlab: error: --adapt must be an integer >= 0, got -1"


def _paired_rows(model, baseline, metric="ciede2000", protocol="view"):
    rows = []
    for k, (a, b) in enumerate(zip(model, baseline)):
        rows.append({"pair": f"p{k}", "protocol": protocol, "method": "model", metric: a})
        rows.append({"pair": f"p{k}", "protocol": protocol, "method": "base", metric: b})
    rows.append({"pair": "x", "protocol": "other", "method": "model", metric: 99.0})   # another protocol: ignored
    return rows


def test_paired_difference_hand_values_interval_and_direction():
    # differences model - base: -2, -1, +0.5, -0.5 -> mean -0.75; lower dE00 is better: 3 of 4 pairs
    rows = _paired_rows([4.0, 5.0, 6.5, 7.5], [6.0, 6.0, 6.0, 8.0])
    result = ev.paired_difference(rows, "model", "base", "ciede2000", protocol="view", resamples=4000, seed=1)
    assert result["n"] == 4 and result["better"] == 3
    assert result["mean"] == pytest.approx(-0.75)
    assert -2.0 <= result["low"] < -0.75 < result["high"] <= 0.5   # resampled means lie within the differences
    assert ev.paired_difference(rows, "model", "base", "ciede2000", protocol="view", resamples=4000,
                                seed=1) == result                    # seeded: the same interval again
    # the same numbers read as PSNR (higher is better): 1 of 4 pairs better
    psnr_rows = _paired_rows([4.0, 5.0, 6.5, 7.5], [6.0, 6.0, 6.0, 8.0], metric="psnr")
    assert ev.paired_difference(psnr_rows, "model", "base", "psnr", protocol="view")["better"] == 1
    # a constant lead has a zero-width interval; an infinite PSNR pair is left out
    constant = _paired_rows([3.0, 4.0, math.inf], [2.0, 3.0, 1.0], metric="psnr")
    result = ev.paired_difference(constant, "model", "base", "psnr", protocol="view")
    assert (result["n"], result["mean"], result["low"], result["high"]) == (2, 1.0, 1.0, 1.0)
    line = ev.format_paired(rows, "model", "base", "view", metrics=("ciede2000",))
    assert line.startswith("model − base (`view`") and "ΔE00 -0.75 [" in line and "better on 3/4 pairs" in line
    with pytest.raises(ConfigError, match="metric"):
        ev.paired_difference(rows, "model", "base", "colourfulness", protocol="view")
    with pytest.raises(ConfigError, match="same"):
        ev.paired_difference(rows[:-2], "model", "base", "ciede2000", protocol="view")   # one pair unmatched
    with pytest.raises(ConfigError, match="resamples"):
        ev.paired_difference(rows, "model", "base", "ciede2000", protocol="view", resamples=0)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", "--data", str(tmp_path / "missing"), "--no-model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err


# ----------------------------------------------------------------------------------- exercise solutions (ch09)
def test_ch09_reference_solutions_hand_values_and_metrics():
    from colorlab.exercises import ch09
    from colorlab.metrics import psnr

    flat, half = np.zeros((2, 2, 3)), np.full((2, 2, 3), 0.5)
    assert ch09.psnr(flat, half) == pytest.approx(10 * np.log10(4.0), abs=1e-9)     # MSE 0.25 -> 6.02 dB
    assert ch09.psnr(half, half) == np.inf
    # one red and one blue pixel: rg = (255, 0), yb = (127.5, -255); sigma_rg = 127.5, sigma_yb = 191.25,
    # mu_rg = 127.5, mu_yb = -63.75
    two = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    expected = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, -63.75)
    assert ch09.colourfulness(two) == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(1)
    a, b = rng.random((12, 12, 3)), rng.random((12, 12, 3))
    assert ch09.psnr(a, b) == pytest.approx(psnr(a, b), rel=1e-12)
    assert ch09.colourfulness(a) == pytest.approx(colourfulness(a), rel=1e-12)
