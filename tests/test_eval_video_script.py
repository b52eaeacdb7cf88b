"""scripts/eval_video.py on tiny clips: runs, writes a well-formed table, replaces only its marked section.

Offline and CI-safe: the "vtest" clip and the Places365-layout dev folder are built here from data/samples photos
(the real vtest.avi and corpus are development data, absent in CI); the model is the `weights` fixture (tiny).
"""

import math
import re

import numpy as np
import pytest

from places_tree import write_sample_val_folder
from scripts_loader import load_script

@pytest.fixture(scope="module")
def script():
    return load_script("eval_video")


@pytest.fixture(scope="module")
def dev_folder(tmp_path_factory):
    """A Places365-layout folder whose val split holds three sample photos (two classes), 64 x 64."""
    return write_sample_val_folder(tmp_path_factory.mktemp("corpus"), ["/a/animal", "/l/landscape"],
                                   [("cat_1", 0), ("dog_1", 0), ("lake_1", 1)], (64, 64))


@pytest.fixture(scope="module")
def tiny_vtest(tmp_path_factory):
    from colorlab.io import sample_paths
    from colorlab.video import synthetic_clip, write_frames

    photo = {p.stem: p for p in sample_paths()}["castle_1"]
    path = tmp_path_factory.mktemp("clip") / "tiny.mp4"
    return write_frames(synthetic_clip(photo, 6, (48, 32), "shake"), path, fps=10)


def _args(vtest, corpus, weights, out):
    return ["--vtest", str(vtest), "--frames", "5", "--corpus", str(corpus), "--photos", "2", "--clip-frames", "4",
            "--size", "48x32", "--weights", str(weights), "--out", str(out)]


def _table(text, title):
    """The rows of the Markdown table under ``### title``, as lists of cells."""
    block = text.split(f"### {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in block[0].strip("|").split("|")]
    assert set(block[1].replace("|", "").replace("-", "").replace(":", "")) == set()   # the separator line
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block[2:]]
    assert all(len(row) == len(header) for row in rows)
    return header, rows


@pytest.fixture(scope="module")
def report(script, tiny_vtest, dev_folder, weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "video_eval.md"
    out.write_text("# Notes kept by hand\n\n<!-- eval_video:begin -->\nstale\n<!-- eval_video:end -->\n\nTail.\n")
    assert script.main(_args(tiny_vtest, dev_folder, weights, out)) == 0
    return out.read_text()


def test_report_replaces_only_the_marked_section(report):
    assert report.startswith("# Notes kept by hand\n\n<!-- eval_video:begin -->\n")
    assert report.endswith("<!-- eval_video:end -->\n\nTail.\n")
    assert "stale" not in report and report.count("<!-- eval_video:begin -->") == 1
    assert "Command: `python scripts/eval_video.py --vtest " in report and "--clip-frames 4" in report


def test_per_clip_table_is_well_formed(report):
    header, rows = _table(report, "Per clip")
    assert header[:4] == ["clip", "frames", "size", "method"]
    clips = list(dict.fromkeys(row[0] for row in rows))
    # vtest, pan and zoom over the 2 drawn photos, and the cut clip: 6 clips x 4 methods
    assert len(clips) == 6 and len(rows) == 24
    assert clips[0] == "`vtest`" and clips[-1].startswith("`cut:")
    assert sum(c.startswith("`pan:") for c in clips) == 2 and sum(c.startswith("`zoom:") for c in clips) == 2
    for clip in clips:
        methods = [row[3] for row in rows if row[0] == clip]
        assert methods == ["per-frame", "propagated (w=0.85)", "global_mean_ab", "ground truth"]
    for row in rows:
        assert row[1] == ("5" if row[0] == "`vtest`" else "4") and row[2] == "48×32"
        psnr, ssim, cdc, warp = row[4:8]
        if row[3] == "ground truth":
            assert psnr == ssim == "—"
        else:
            assert 5.0 < float(psnr) < 100.0 and 0.0 < float(ssim) <= 1.0
        assert float(cdc) >= 0 and math.isfinite(float(cdc)) and float(warp) >= 0
    cut_rows = [row for row in rows if row[0].startswith("`cut:")]
    assert cut_rows[1][-1].endswith("(expected 2)") and cut_rows[0][-1] == "—" and cut_rows[2][-1] == "—"


def test_family_means_are_the_means_of_the_clips(report):
    _, clip_rows = _table(report, "Per clip")
    header, rows = _table(report, "Averaged per clip family")
    assert header[:3] == ["family", "clips", "method"]
    assert [row[0] for row in rows[::4]] == ["vtest", "pan", "zoom", "cut", "all single-shot"]
    pan = [float(r[4]) for r in clip_rows if r[0].startswith("`pan:") and r[3] == "per-frame"]
    family = next(r for r in rows if r[0] == "pan" and r[2] == "per-frame")
    assert family[1] == "2" and float(family[3]) == pytest.approx(np.mean(pan), abs=0.006)   # 2-decimal cells
    single = next(r for r in rows if r[0] == "all single-shot" and r[2] == "per-frame")
    assert single[1] == "5"


def test_the_default_path_is_compared_with_the_baseline(report):
    _, clip_rows = _table(report, "Per clip")
    header, rows = _table(report, "The default path minus the `global_mean_ab` baseline")
    assert header == ["family", "ΔPSNR (dB)", "ΔSSIM", "clips ahead on PSNR"]
    assert [row[0] for row in rows] == ["vtest", "pan", "zoom", "cut", "all single-shot"]
    psnr = {(r[0], r[3]): float(r[4]) for r in clip_rows if r[3] != "ground truth"}
    clips = [c for c, m in psnr if m == "global_mean_ab" and not c.startswith("`cut:")]
    ahead = sum(psnr[c, "propagated (w=0.85)"] > psnr[c, "global_mean_ab"] for c in clips)
    assert rows[-1][3] == f"{ahead}/5"
    assert "not adapted (the network as trained)" in report    # the tiny weights recommend no adaptation


def test_missing_vtest_is_one_clear_error(script, dev_folder, weights, tmp_path, capsys):
    out = tmp_path / "report.md"
    assert script.main(_args(tmp_path / "absent.avi", dev_folder, weights, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("eval_video: error: vtest.avi not found at") and "--no-vtest" in err[-1]
    assert not out.exists()


def test_existing_file_without_markers_is_not_overwritten(script, dev_folder, weights, tmp_path, capsys):
    out = tmp_path / "report.md"
    out.write_text("keep me\n")
    assert script.main(_args(tmp_path / "absent.avi", dev_folder, weights, out)) == 2
    assert "has no <!-- eval_video:begin -->" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"


def test_report_says_where_propagation_is_worse(report):
    section = report.split("### Where propagation is worse than per-frame\n\n", 1)[1].split("\n\n", 1)[0]
    _, rows = _table(report, "Per clip")
    clips = {row[0] for row in rows}
    lines = section.splitlines()
    if lines[0].startswith("Nowhere"):
        assert "6 clips" in lines[0]
    else:
        for line in lines:
            match = re.match(r"- (`[^`]+`): (PSNR|SSIM|CDC|warping error) ", line)
            assert match and match.group(1) in clips


def test_worse_rows_lists_only_the_metrics_that_got_worse(script):
    def row(clip, method, psnr, ssim, cdc, warp):
        return {"clip": clip, "method": method, "psnr": psnr, "ssim": ssim, "cdc": cdc, "warping_error": warp}

    rows = [row("a", "per-frame", 30.0, 0.9, 0.004, 0.010), row("a", "propagated (w=0.85)", 29.5, 0.95, 0.003, 0.011),
            row("a", "ground truth", float("nan"), float("nan"), 0.002, 0.009),
            row("b", "per-frame", 30.0, 0.9, 0.004, 0.010), row("b", "propagated (w=0.85)", 31.0, 0.91, 0.003, 0.009)]
    assert script.worse_rows(rows) == ["- `a`: PSNR 30.00 → 29.50, warping error 10.000 → 11.000"]


def test_named_section_is_replaced_and_the_other_kept(script, tmp_path):
    out = tmp_path / "doc.md"
    out.write_text("<!-- eval_video:begin -->\nmain\n<!-- eval_video:end -->\n"
                   "<!-- eval_video:wide:begin -->\nold\n<!-- eval_video:wide:end -->\n")
    script.write_report(out, "new\n", overwrite=False, section="wide")
    assert out.read_text() == ("<!-- eval_video:begin -->\nmain\n<!-- eval_video:end -->\n"
                               "<!-- eval_video:wide:begin -->\nnew\n<!-- eval_video:wide:end -->\n")
    with pytest.raises(Exception, match="has no <!-- eval_video:other:begin -->"):
        script.write_report(out, "x\n", overwrite=False, section="other")
