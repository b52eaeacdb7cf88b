"""scripts/study_adapt.py on a tiny dev folder: the settings parse, every setting colours the same pairs, the summary
compares them with Welsh and with "none", and a second run reuses the rows it finds instead of recomputing them.

Offline and CI-safe: the dev folder is built here from data/samples photos; the model is the `weights` fixture (tiny).
"""

import csv

import pytest

from places_tree import write_sample_val_folder
from scripts_loader import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("study_adapt")


@pytest.fixture(scope="module")
def dev_folder(tmp_path_factory):
    """A Places365-layout folder whose val split holds two sample photos of one class, 48 x 40."""
    return write_sample_val_folder(tmp_path_factory.mktemp("corpus"), ["/a/animal"],
                                   [("cat_1", 0), ("dog_1", 0)], (48, 40))


def test_settings_parse_and_bad_ones_are_refused(script):
    assert script.parse_setting("none=0") == ("none", 0, {})
    assert script.parse_setting("d=20:decoder:3e-4:0.8") == (
        "d", 20, {"parts": "decoder", "learning_rate": 3e-4, "min_crop": 0.8})
    assert script.parse_setting("g=20:decoder:3e-4:0.5:0.5")[2]["min_match"] == 0.5
    assert script.parse_setting("b=10:decoder:batch_size=4:learning_rate=6e-4") == (
        "b", 10, {"parts": "decoder", "batch_size": 4, "learning_rate": 6e-4})
    for bad in ("20", "x=", "x=a:decoder", "x=1:batch_size=4:decoder", "x=1:colour=red", "x=1:batch_size=4.5",
                "x=1:parts=all:parts=decoder", "x=1:a:1e-4:0.5:0.5:4"):
        with pytest.raises(SystemExit, match="expected NAME=STEPS"):
            script.parse_setting(bad)


def test_the_study_compares_settings_on_the_same_pairs_and_resumes(script, dev_folder, weights, tmp_path):
    out = tmp_path / "study"
    argv = ["--data", str(dev_folder), "--out", str(out), "--weights", str(weights),
            "--setting", "none=0", "--setting", "two=2:decoder:1e-3"]
    assert script.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["view_none.csv", "view_summary.md", "view_two.csv",
                                                     "view_welsh.csv"]
    rows = {}
    for name in ("welsh", "none", "two"):
        with open(out / f"view_{name}.csv", newline="") as handle:
            rows[name] = list(csv.DictReader(handle))
    assert [r["pair"] for r in rows["none"]] == [r["pair"] for r in rows["two"]] == [r["pair"] for r in rows["welsh"]]
    assert len(rows["two"]) == 2 and all(float(r["seconds"]) > 0 for r in rows["two"])
    assert [r["ciede2000"] for r in rows["none"]] != [r["ciede2000"] for r in rows["two"]]   # adapting changed them
    summary = (out / "view_summary.md").read_text()
    table = [line for line in summary.splitlines() if line.startswith("| two |")]
    assert len(table) == 1 and "parts=decoder, learning_rate=0.001" in table[0]
    assert table[0].count("/2") == 2          # pairs won against Welsh and against "none"

    before = {p.name: p.stat().st_mtime_ns for p in out.glob("view_*.csv")}
    assert script.main(argv) == 0             # everything found: nothing is coloured again
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("view_*.csv")} == before
    assert (out / "view_summary.md").read_text() == summary


def test_the_gate_sweep_mixes_the_adapted_and_unadapted_rows_by_the_recorded_match(script, dev_folder, weights,
                                                                                   tmp_path):
    out = tmp_path / "gate"
    argv = ["--data", str(dev_folder), "--out", str(out), "--weights", str(weights),
            "--setting", "none=0", "--setting", "two=2:decoder:1e-3", "--gate", "two"]
    assert script.main(argv) == 0
    with open(out / "view_match.csv", newline="") as handle:
        matches = {row["pair"]: float(row["match"]) for row in csv.DictReader(handle)}
    assert len(matches) == 2 and all(-1.0 <= m <= 1.0 for m in matches.values())
    rows = {}
    for name in ("none", "two"):
        with open(out / f"view_{name}.csv", newline="") as handle:
            rows[name] = {row["pair"]: float(row["ciede2000"]) for row in csv.DictReader(handle)}
    sweep = {}
    for line in (out / "view_summary.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0].replace(".", "").isdigit():
            sweep[float(cells[0])] = (cells[1], float(cells[3]))
    assert sorted(sweep) == list(script.THRESHOLDS)
    for threshold, (adapted, delta_e) in sweep.items():
        chosen = [rows["two"][p] if matches[p] >= threshold else rows["none"][p] for p in matches]
        assert adapted == f"{sum(matches[p] >= threshold for p in matches)}/2"
        assert delta_e == pytest.approx(sum(chosen) / 2, abs=5e-4)


def test_a_gate_without_none_or_on_a_gated_setting_is_refused(script, dev_folder, tmp_path):
    for settings in (["two=2"], ["none=0", "two=2:decoder:1e-3:0.5:0.4"], ["none=0", "two=2"]):
        gate = "three" if settings == ["none=0", "two=2"] else "two"
        argv = ["--data", str(dev_folder), "--out", str(tmp_path / "x"), "--gate", gate]
        argv += [arg for setting in settings for arg in ("--setting", setting)]
        with pytest.raises(SystemExit, match="needs a setting 'none' and an ungated setting"):
            script.main(argv)
    assert not (tmp_path / "x").exists()


def test_replay_settings_make_a_bank_from_the_training_split_and_versus_adds_a_column(script, weights, tmp_path):
    from PIL import Image

    from colorlab.adapt import load_replay_bank
    from colorlab.models import load_generator

    root = write_sample_val_folder(tmp_path / "corpus", ["/a/animal"], [("cat_1", 0), ("dog_1", 0)], (48, 40))
    (root / "data_256" / "a" / "animal").mkdir(parents=True)
    for index in (1, 2, 3):     # a training split of three photos (the val photos, resized)
        Image.open(root / "val_256" / f"Places365_val_{1 + index % 2:08d}.jpg").resize((40 + 4 * index, 40)).save(
            root / "data_256" / "a" / "animal" / f"{index:08d}.jpg")
    (root / "places365_train_standard.txt").write_text("".join(f"/a/animal/{i:08d}.jpg 0\n" for i in (1, 2, 3)))
    out = tmp_path / "study"
    argv = ["--data", str(root), "--out", str(out), "--weights", str(weights), "--replay-count", "3",
            "--setting", "none=0", "--setting", "two=2:decoder:1e-3", "--setting", "mix=2:decoder:1e-3:replay=2",
            "--versus", "two"]
    assert script.main(argv) == 0
    config = load_generator(weights).config
    bank = load_replay_bank(out / "replay_bank.npz", config.image_size, config.reference_size)
    assert len(bank["target_l"]) == 3
    rows = {}
    for name in ("two", "mix"):
        with open(out / f"view_{name}.csv", newline="") as handle:
            rows[name] = [float(r["ciede2000"]) for r in csv.DictReader(handle)]
    assert rows["two"] != rows["mix"]                # the corpus pairs changed the adaptation
    summary = (out / "view_summary.md").read_text()
    assert "ΔE00 − two [95 %]" in summary and f"--replay-bank {out / 'replay_bank.npz'}" in summary
    mix = next(line for line in summary.splitlines() if line.startswith("| mix |"))
    assert "replay=2" in mix and "replay_bank" not in mix and mix.count("/2") == 3
    with pytest.raises(SystemExit, match="names no --setting"):
        script.main(argv[:-1] + ["three"])
