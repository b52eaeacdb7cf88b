"""Faults on the inference side (issue 14): hostile shapes under a memory limit, absurd configs, inputs and outputs
checked before the model loads, outputs that are inputs or dangling links, operating-system errors, concurrent and
damaged video jobs. Each must give one line and a non-zero status (2), or work within the budget.

The hostile shapes run through the real command line in one subprocess whose address space is limited
(``RLIMIT_AS``), so a shape that asks for gigabytes fails the test instead of the machine. "Before the model loads"
is shown without timing: the model builder is replaced by one that records its calls.
"""

import errno
import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import colorlab
import colorlab.models.weights as model_weights
from colorlab.errors import BudgetError, BusyError, ColorlabError, ConfigError, OutputExistsError
from colorlab.inference import MAX_ASPECT, MAX_MATCHING, WorkBudget, WorkBudgetWarning, matching_positions
from colorlab.io import check_output_path
from colorlab.models import get_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
MEMORY_LIMIT = 6 * 2 ** 30   # address space of the hostile-shape subprocess (TensorFlow starts in ~3 GB of it)


def _png(path, height, width, value=128):
    Image.fromarray(np.full((height, width), value, np.uint8)).save(path, optimize=True)
    return path


def _cli(capsys, *args):
    from colorlab.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("colorlab: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_model_build(monkeypatch):
    """Replaces the model builder: a test that uses it proves its failure came before any model was built."""
    calls = []

    def build(config):
        calls.append(config)
        raise AssertionError("the model was built before the inputs were checked")

    model_weights.clear_generator_cache()
    monkeypatch.setattr(model_weights, "build_gray2colornet", build)
    yield calls
    assert calls == []


# ============================================================================================= work budget
def test_budget_keeps_photos_and_panoramas_at_the_working_size():
    budget = WorkBudget()
    for name in ("laptop", "course", "paper"):
        config = get_config(name)
        for target, reference in [((3000, 4000), (3000, 4000)),      # a 12 MP photo and a 4:3 reference
                                  ((4000, 3000), (500, 500))]:
            plan = budget.plan(target, reference, config)
            assert plan.scale == 1.0 and min(plan.target) == config.image_size, (name, target, plan)
    # a 4:1 panorama: at full working size with the demo weights' config and the paper's, ~10 % smaller for course
    for name, reference in [("laptop", (2000, 8000)), ("paper", (3000, 4000)), ("course", (3000, 4000))]:
        plan = budget.plan((2000, 8000), reference, get_config(name))
        assert plan.scale == 1.0 if name != "course" else 0.85 < plan.scale < 1.0, (name, plan)


def test_budget_reduces_both_working_sizes_to_fit_the_matching():
    config = get_config("course")
    plan = WorkBudget().plan((500, 8000), (500, 8000), config)              # 16:1 against 16:1
    assert plan.scale < 1 and plan.matching <= MAX_MATCHING
    assert plan.matching == matching_positions(plan.target) * matching_positions(plan.reference)
    assert min(plan.target) < config.image_size and plan.target[1] == pytest.approx(16 * plan.target[0], abs=1)
    # the paper's gate keeps its reference at exactly reference_size squared: only the target shrinks
    paper = get_config("paper")
    plan = WorkBudget(max_matching=2 ** 22).plan((1000, 4000), (300, 300), paper)
    assert plan.reference == (128, 128) and plan.scale < 1 and plan.matching <= 2 ** 22


@pytest.mark.parametrize("target, reference, fragment", [
    ((1, 3000), (64, 64), "target is 3000×1 pixels, an aspect ratio of 3000:1"),
    ((40, 40000), (64, 64), "target is 40000×40"),
    ((64, 64), (40, 40000), "reference is 40000×40"),
    ((50, 10000), (64, 64), "200:1"),
    ((20000, 20000), (64, 64), "more than the limit of 100,000,000"),
])
def test_budget_refuses_hostile_shapes_naming_them(target, reference, fragment):
    with pytest.raises(BudgetError, match=fragment):
        WorkBudget().plan(target, reference, get_config("laptop"), target="target", reference="reference")


def test_budget_arguments_are_checked():
    with pytest.raises(ConfigError, match="max_aspect"):
        WorkBudget(max_aspect=0)
    assert WorkBudget().max_aspect == MAX_ASPECT


def test_colorize_reduces_within_a_small_budget_and_warns(weights):
    gray = np.linspace(0.1, 0.9, 40 * 320, dtype=np.float32).reshape(40, 320)
    reference = np.random.default_rng(0).random((40, 320, 3)).astype(np.float32)
    with pytest.warns(WorkBudgetWarning, match="reduced"):
        out = colorlab.colorize(gray, reference, weights=weights, budget=WorkBudget(max_matching=2 ** 16))
    assert out.size == (320, 40)
    with pytest.raises(BudgetError, match="aspect ratio of 20:1"):
        colorlab.colorize(np.zeros((8, 160), np.float32), reference, weights=weights)


HOSTILE_DRIVER = textwrap.dedent("""
    import contextlib, io, json, resource, sys
    from colorlab.cli import main

    results = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except BaseException as error:   # a crash must show up in the test, not end the driver
                code = f"{type(error).__name__}: {error}"
        results.append([argv, code, err.getvalue()])
    print(json.dumps({"results": results, "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
""")


def test_hostile_shapes_through_the_command_line_under_a_memory_limit(tmp_path):
    """The shapes of the issue, with the demo weights, in one process limited to 6 GB of address space: each
    hostile one is one line and status 2; a 4:1 panorama against a 4:1 reference is coloured."""
    from colorlab.video import write_frames

    strip = _png(tmp_path / "strip.png", 1, 3000)                            # ~85 bytes
    assert strip.stat().st_size < 200
    wide, long = _png(tmp_path / "wide.png", 40, 40000), _png(tmp_path / "long.png", 50, 10000)
    pano_target = _png(tmp_path / "pano.png", 100, 400)
    pano_reference = Image.open(SAMPLES / "lake_2.jpg").convert("RGB").resize((400, 100))
    pano_reference.save(tmp_path / "pano_reference.png")
    clip = write_frames(np.full((3, 40, 1000, 3), 100, np.uint8), tmp_path / "strip.mp4")
    reference = SAMPLES / "lake_2.jpg"
    cases = {
        "3000x1 target": ["colorize", strip, "-r", reference, "-o", tmp_path / "a.png"],
        "40000x40 target": ["colorize", wide, "-r", reference, "-o", tmp_path / "b.png"],
        "40000x40 reference": ["colorize", SAMPLES / "lake_1.jpg", "-r", wide, "-o", tmp_path / "c.png"],
        "10000x50 target": ["colorize", long, "-r", reference, "-o", tmp_path / "d.png"],
        "1000x40 video": ["video", clip, "-r", reference, "-o", tmp_path / "e.mp4"],
        "4:1 panorama": ["colorize", pano_target, "-r", tmp_path / "pano_reference.png", "-o", tmp_path / "f.png"],
    }
    argvs = [[str(a) for a in argv] for argv in cases.values()]

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    result = subprocess.run([sys.executable, "-c", HOSTILE_DRIVER, json.dumps(argvs)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, preexec_fn=limit,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    outcome = {name: (code, err) for name, (_, code, err) in zip(cases, report["results"])}
    for name, shape, role in [("3000x1 target", "3000×1", "target"), ("40000x40 target", "40000×40", "target"),
                              ("40000x40 reference", "40000×40", "reference"), ("10000x50 target", "10000×50",
                                                                                  "target"),
                              ("1000x40 video", "1000×40", "video")]:
        code, err = outcome[name]
        line = _one_error_line(err)
        assert code == 2 and shape in line and role in line and "16:1" in line, (name, err)
        assert os.fspath(cases[name][3 if role == "reference" else 1]) in line, (name, line)
    code, err = outcome["4:1 panorama"]
    assert code == 0 and "error" not in err, err
    assert Image.open(tmp_path / "f.png").size == (400, 100)
    assert report["peak_bytes"] < 4 * 2 ** 30, report["peak_bytes"]


# ============================================================================================ configs
@pytest.mark.parametrize("overrides, fragment", [
    ({"base_width": 4096}, r"base_width must be an integer in \[1, 128\]"),
    ({"image_size": 8192}, "image_size"),
    ({"gate_hidden": 10 ** 6}, "gate_hidden"),
    ({"num_classes": 10 ** 7}, "num_classes"),
    ({"hist_bins": 1000}, "hist_bins"),
    ({"res_blocks": 100}, "res_blocks"),
    ({"disc_layers": 40}, "disc_layers"),
])
def test_config_sizes_are_bounded(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        get_config("tiny", **overrides)


def test_full_column_gate_size_is_bounded_and_shipped_configs_pass():
    with pytest.raises(ConfigError, match="MAX_GATE_WEIGHTS"):
        get_config("paper", reference_size=512)
    for name in ("tiny", "laptop", "course", "paper"):
        get_config(name)
    model_weights.read_config(model_weights.DEMO_WEIGHTS)


def test_absurd_config_beside_weights_is_one_line_before_any_build(weights, tmp_path, capsys, no_model_build):
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(Path(weights).read_bytes())
    config = json.loads(Path(weights).with_name("tiny.json").read_text())
    config["config"]["base_width"] = 4096
    (tmp_path / "bad.json").write_text(json.dumps(config))
    target = SAMPLES / "lake_1.jpg"
    code, out, err = _cli(capsys, "colorize", target, "-r", target, "-o", tmp_path / "o.png", "-w", bad)
    line = _one_error_line(err)
    assert code == 2 and "bad.json" in line and "base_width" in line
    assert not (tmp_path / "o.png").exists()


def test_a_model_that_cannot_be_built_is_one_error(weights, monkeypatch):
    def build(config):
        raise MemoryError("Unable to allocate 40.0 GiB for an array")

    model_weights.clear_generator_cache()
    monkeypatch.setattr(model_weights, "build_gray2colornet", build)
    with pytest.raises(ColorlabError, match="cannot load weights .*Unable to allocate 40.0 GiB"):
        model_weights.load_generator(weights)


# ===================================================================== inputs and outputs before the model
@pytest.fixture
def photos(tmp_path):
    target = tmp_path / "target.png"
    Image.open(SAMPLES / "lake_1.jpg").convert("L").resize((48, 32)).save(target)
    reference = tmp_path / "reference.png"
    Image.open(SAMPLES / "lake_2.jpg").convert("RGB").resize((40, 30)).save(reference)
    return target, reference


@pytest.mark.parametrize("case", ["missing target", "text target", "missing reference", "missing folder",
                                  "output exists", "output is the target", "output is the reference",
                                  "output links to the target", "dangling link"])
def test_colorize_checks_inputs_and_outputs_before_the_model(weights, photos, tmp_path, capsys, no_model_build,
                                                             case):
    target, reference = photos
    output, extra, named = tmp_path / "out.png", [], None
    if case == "missing target":
        target = named = tmp_path / "nothing.png"
    elif case == "text target":
        target = named = tmp_path / "notes.png"
        target.write_text("not an image\n")
    elif case == "missing reference":
        reference = named = tmp_path / "nothing.jpg"
    elif case == "missing folder":
        output = named = tmp_path / "nowhere" / "out.png"
    elif case == "output exists":
        output.write_bytes(b"precious")
        named = output
    elif case == "output is the target":
        output, extra, named = target, ["--overwrite"], target
    elif case == "output is the reference":
        output, extra, named = tmp_path / "reference.png", ["--overwrite"], reference
    elif case == "output links to the target":
        output.symlink_to(target)
        extra, named = ["--overwrite"], target
    else:
        output.symlink_to(tmp_path / "gone.png")
        named = output
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, out, err = _cli(capsys, "colorize", target, "-r", reference, "-o", output, "-w", weights, *extra)
    line = _one_error_line(err)
    assert code == 2 and out == "" and str(named) in line, line
    if case == "dangling link":
        assert "dangling symbolic link" in line and "exists" not in line
    if case.startswith("output is") or case == "output links to the target":
        assert "it is the input" in line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_dangling_link_is_replaced_with_overwrite(weights, photos, tmp_path, capsys):
    target, reference = photos
    output = tmp_path / "out.png"
    output.symlink_to(tmp_path / "gone.png")
    code, _, err = _cli(capsys, "colorize", target, "-r", reference, "-o", output, "-w", weights, "--overwrite")
    assert code == 0, err
    assert not output.is_symlink() and Image.open(output).size == (48, 32)


def test_check_output_path_refuses_a_folder_it_cannot_write(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)   # what a read-only folder answers (also for root)
    with pytest.raises(ConfigError, match="not writable"):
        check_output_path(tmp_path / "out.png")
    monkeypatch.undo()
    assert check_output_path(tmp_path / "new" / "deeper" / "out.png", make_folder=True).name == "out.png"
    with pytest.raises(OutputExistsError, match="exists already"):
        check_output_path(Path(__file__))


def test_disk_full_is_one_line_naming_the_file_with_status_2(weights, photos, tmp_path, capsys, monkeypatch):
    target, reference = photos

    def full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    output = tmp_path / "out.png"
    code, _, err = _cli(capsys, "colorize", target, "-r", reference, "-o", output, "-w", weights)
    line = _one_error_line(err)
    assert code == 2 and "No space left on device" in line and str(output) in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference.png", "target.png"]   # no temporary left


def test_main_names_the_file_of_any_operating_system_error(capsys, monkeypatch):
    from colorlab.cli import colorize as colorize_command

    def denied(args):
        raise PermissionError(errno.EACCES, "Permission denied", "/some/where.png")

    monkeypatch.setattr(colorize_command, "run", denied)
    code, _, err = _cli(capsys, "colorize", "t.png", "-r", "r.png", "-o", "o.png")
    assert code == 2 and _one_error_line(err) == "colorlab: error: '/some/where.png': Permission denied"



def test_ctrl_c_in_colorize_is_one_line_with_status_130(capsys, monkeypatch):
    from colorlab.cli import colorize as colorize_command

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(colorize_command, "run", interrupted)
    code, out, err = _cli(capsys, "colorize", "t.png", "-r", "r.png", "-o", "o.png")
    assert code == 130 and out == "" and err.strip() == "colorlab: interrupted"



def test_a_missing_file_is_refused_before_keras_is_imported(tmp_path):
    """Files and paths are checked first: a refusal for them takes a fraction of a second, not Keras' start-up."""
    script = textwrap.dedent(f"""
        import sys
        from colorlab.cli import main
        codes = [main(["colorize", {str(tmp_path / "gone.png")!r}, "-r", {str(SAMPLES / "lake_1.jpg")!r},
                       "-o", {str(tmp_path / "out.png")!r}]),
                 main(["colorize", {str(SAMPLES / "lake_1.jpg")!r}, "-r", {str(tmp_path / "gone.png")!r},
                       "-o", {str(tmp_path / "out.png")!r}]),
                 main(["video", {str(tmp_path / "gone.mp4")!r}, "-r", {str(SAMPLES / "lake_1.jpg")!r},
                       "-o", {str(tmp_path / "out.mp4")!r}])]
        print(codes, sorted(name for name in ("keras", "tensorflow", "jax") if name in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "[2, 2, 2] []", result.stderr[-2000:]
    assert result.stderr.count("colorlab: error: cannot read") == 3


# ================================================================================================= video
@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    from colorlab.video import synthetic_clip, write_frames

    folder = tmp_path_factory.mktemp("faults_video")
    return write_frames(synthetic_clip(SAMPLES / "lake_1.jpg", 8, (64, 48), "pan"), folder / "in.mp4")


@pytest.mark.parametrize("case", ["missing input", "missing reference", "output is the reference", "dangling link"])
def test_video_checks_inputs_and_outputs_before_the_model(weights, clip_file, tmp_path, capsys, no_model_build,
                                                          case):
    source, reference, output, extra = clip_file, SAMPLES / "lake_2.jpg", tmp_path / "out.mp4", []
    if case == "missing input":
        source = named = tmp_path / "nothing.mp4"
    elif case == "missing reference":
        reference = named = tmp_path / "nothing.jpg"
    elif case == "output is the reference":
        reference = tmp_path / "reference.mp4"            # an odd name, but a photo: Pillow reads the content
        reference.write_bytes((SAMPLES / "lake_2.jpg").read_bytes())
        output, extra, named = reference, ["--overwrite"], reference
    else:
        output.symlink_to(tmp_path / "gone.mp4")
        named = output
    code, out, err = _cli(capsys, "video", source, "-r", reference, "-o", output, "-w", weights, *extra)
    line = _one_error_line(err)
    assert code == 2 and str(named) in line, line
    assert not Path(str(output) + ".partial").exists()


def test_second_video_job_on_the_same_output_is_refused_at_once(weights, clip_file, tmp_path, capsys,
                                                                no_model_build):
    output = tmp_path / "out.mp4"
    partial = tmp_path / "out.mp4.partial"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from colorlab.locks import FolderLock; "
         "lock = FolderLock(sys.argv[1], what='video job').acquire(); print('held', flush=True); time.sleep(120)",
         str(partial)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, out, err = _cli(capsys, "video", clip_file, "-r", SAMPLES / "lake_2.jpg", "-o", output, "-w", weights)
        line = _one_error_line(err)
        assert code == 2 and f"process {holder.pid} on " in line and "video job" in line and str(partial) in line
    finally:
        holder.kill()
        holder.wait()
    assert not output.exists() and sorted(p.name for p in partial.iterdir()) == [".lock"]
    with pytest.raises(BusyError):   # the same rule inside one process: the lock is per open file
        from colorlab.locks import FolderLock

        with FolderLock(partial, what="video job"):
            FolderLock(partial, what="video job").acquire()


def _interrupted_job(weights, source, output, monkeypatch):
    """Runs a video job with the command's settings that stops (KeyboardInterrupt) right after its one segment
    is committed: every frame is done, the segments are not joined yet."""
    from colorlab import video

    original = video._Job.commit

    def commit_then_interrupt(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(video._Job, "commit", commit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        video.colorize_video(source, SAMPLES / "lake_2.jpg", output, weights=weights, progress=False, batch_size=4)
    monkeypatch.setattr(video._Job, "commit", original)
    return Path(str(output) + ".partial")


@pytest.mark.parametrize("damage", ["job.json garbage", "job.json without segments", "segment missing",
                                    "state truncated", "segment corrupt"])
def test_damaged_resume_folder_is_one_line_suggesting_restart(weights, clip_file, tmp_path, capsys, monkeypatch,
                                                              damage):
    output = tmp_path / "out.mp4"
    partial = _interrupted_job(weights, clip_file, output, monkeypatch)
    job = json.loads((partial / "job.json").read_text())
    segment, state = partial / job["segments"][0]["file"], partial / job["segments"][0]["state"]
    if damage == "job.json garbage":
        (partial / "job.json").write_bytes(b"\x00\xff{")
    elif damage == "job.json without segments":
        (partial / "job.json").write_text(json.dumps({"version": job["version"], "fingerprint": job["fingerprint"]}))
    elif damage == "segment missing":
        segment.unlink()
    elif damage == "state truncated":
        state.write_bytes(state.read_bytes()[:40])
    else:
        segment.write_bytes(b"\x00" * 64)
    args = ["video", clip_file, "-r", SAMPLES / "lake_2.jpg", "-o", output, "-w", weights, "--batch-size", "4"]
    code, out, err = _cli(capsys, *args)
    line = _one_error_line(err)
    assert code == 2 and "--restart" in line and str(partial) in line, line
    assert not output.exists() and partial.is_dir()
    code, out, err = _cli(capsys, *args, "--restart")
    assert code == 0, err
    assert output.is_file() and not partial.exists()
