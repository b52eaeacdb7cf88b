"""Tests for colorlab.train: steps, logs, checkpoint/resume (bitwise), export, JAX, the CLI, two replicas.

Everything runs the ``tiny`` config (32 px) on a fake Places365 folder of 8 generated photos. The TensorFlow steps
run eagerly (``compile=False``): a handful of steps is cheaper than tracing. The command line on JAX and the
two-replica run are subprocesses (another backend; a fresh TensorFlow to split the CPU in two); they are started
together at the beginning of the module and collected by the last tests, so they overlap with the rest.
"""

import collections
import csv
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from PIL import Image

from colorlab import train
from colorlab.data import PairDataset
from colorlab.errors import ColorlabError, ConfigError
from colorlab.models import get_config

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLASSES = [("a", "alley"), ("b", "beach")]


def _write_tree(root: pathlib.Path) -> pathlib.Path:
    """8 smooth random colour photos (40 x 48), 4 per class, in Places365's layout (as tests/test_data.py)."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True)
    (root / "categories_places365.txt").write_text(
        "".join(f"/{letter}/{name} {label}\n" for label, (letter, name) in enumerate(CLASSES)))
    lines, counts = [], collections.Counter()
    y, x = np.mgrid[0:40, 0:48] / 48.0
    for k in range(8):
        label = k % 2
        letter, name = CLASSES[label]
        counts[name] += 1
        relative = f"{letter}/{name}/{counts[name]:08d}.jpg"
        (root / "data_256" / letter / name).mkdir(parents=True, exist_ok=True)
        freq, phase = rng.uniform(1.0, 4.0, 3), rng.uniform(0.0, 2 * np.pi, 3)
        rgb = np.stack([0.5 + 0.45 * np.sin(freq[c] * 2 * np.pi * x + 3.0 * y + phase[c]) for c in range(3)], -1)
        Image.fromarray(np.round(rgb * 255).astype(np.uint8)).save(root / "data_256" / relative, quality=95)
        lines.append(f"/{relative} {label}\n")
    (root / "places365_train_standard.txt").write_text("".join(lines))
    return root


def _env(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **extra}


# The command line on JAX, run through its entry point in a process that then names any TensorFlow module it loaded.
_JAX_CLI_SCRIPT = textwrap.dedent("""
    import json, sys
    from colorlab.cli import main
    code = main(sys.argv[1:])
    print(json.dumps({"tensorflow_modules": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")}))
    sys.exit(code)
""")

_REPLICA_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from colorlab.data import PairDataset
    from colorlab.train import Trainer
    batch = PairDataset(sys.argv[1], "train", "tiny", batch_size=4, shuffle=False).batch(0)
    single = Trainer("tiny", sys.argv[2] + "/single", compile=False, progress=False)
    mirrored = Trainer("tiny", sys.argv[2] + "/mirrored", compile=False, progress=False, distribute="data-parallel")
    g1, d1, l1 = single.gradients(batch)
    g2, d2, l2 = mirrored.gradients(batch)
    merged = {**batch[0], **batch[1]}
    halves = [single.gradients({key: value[2 * k:2 * k + 2] for key, value in merged.items()}) for k in range(2)]
    gh, dh = ([(a + b) / 2 for a, b in zip(halves[0][n], halves[1][n])] for n in range(2))
    before = [np.array(w) for w in mirrored.generator.get_weights()]
    losses = mirrored.train_step(batch)
    after = mirrored.generator.get_weights()
    def rel(a, b):
        return max(float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-12)) for x, y in zip(a, b))
    def norm_rel(a, b):
        a, b = (np.concatenate([np.ravel(x) for x in v]) for v in (a, b))
        return float(np.linalg.norm(a - b) / np.linalg.norm(a))
    print(json.dumps({"replicas": mirrored.distribution.replicas, "g_rel": rel(gh, g2), "d_rel": rel(dh, d2),
                      "g_whole": norm_rel(g1, g2), "d_whole": norm_rel(d1, d2),
                      "loss_single": l1["loss"], "loss_mirrored": l2["loss"], "step_losses": losses,
                      "changed": sum(bool(np.any(a != b)) for a, b in zip(before, after)), "n": len(before)}))
""")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _write_tree(tmp_path_factory.mktemp("places") / "root")


@pytest.fixture(scope="module")
def background(tree, tmp_path_factory):
    """Starts the subprocess runs at once (the CLI on JAX, two replicas); tests collect them with ``wait``."""
    work = tmp_path_factory.mktemp("subprocesses")
    jax_env = _env(KERAS_BACKEND="jax", XLA_FLAGS="--xla_backend_optimization_level=0", JAX_PLATFORMS="cpu")
    tf_env = _env(KERAS_BACKEND="tensorflow")
    commands = {
        # the command line, on JAX: two steps, a checkpoint after each (to compare), the exported generator
        "jax_cli": ([sys.executable, "-c", _JAX_CLI_SCRIPT, "train", "--config", "tiny", "--data", str(tree),
                     "--steps", "2", "--out", str(work / "jax_run"), "--batch-size", "2", "--log-every", "1",
                     "--checkpoint-every", "1", "--image-every", "2"], jax_env),
        "replicas": ([sys.executable, "-c", _REPLICA_SCRIPT, str(tree), str(work / "replicas")], tf_env),
    }
    if importlib.util.find_spec("tensorflow") is None:   # the TensorFlow-free job: no two-replica run
        del commands["replicas"]
    processes = {name: subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True) for name, (command, env) in commands.items()}
    results = {}

    def wait(name):
        if name not in results:
            stdout, stderr = processes[name].communicate(timeout=600)
            results[name] = subprocess.CompletedProcess(commands[name][0], processes[name].returncode, stdout,
                                                        stderr)
        return results[name]

    wait.work = work
    yield wait
    for process in processes.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def run(tree, tmp_path_factory, background):
    """One uninterrupted eager TensorFlow run of 4 steps (checkpoints at 2 and 4, logs every step)."""
    out = tmp_path_factory.mktemp("run")
    dataset = PairDataset(tree, "train", "tiny", batch_size=2, drop_remainder=True)
    trainer = train.Trainer(train.TrainingRecipe("tiny", batch_size=2), out, checkpoint_every=2, log_every=1,
                            image_every=2, compile=False, progress=False)
    initial = [np.array(w) for w in trainer.generator.get_weights()]
    rows = trainer.fit(dataset, 4)
    return {"trainer": trainer, "out": out, "rows": rows, "initial": initial, "dataset": dataset}


def _all_state(trainer):
    trainer.sync()
    return ([np.array(w) for w in trainer.generator.get_weights()]
            + [np.array(w) for w in trainer.discriminator.get_weights()]
            + [np.array(v.value) for v in trainer.g_optimizer.variables + trainer.d_optimizer.variables])


# ----------------------------------------------------------------------------------------------- steps
def test_steps_are_finite_and_change_both_networks(run):
    trainer = run["trainer"]
    assert trainer.step == 4
    assert trainer.precision == "float32"  # "auto" on a CPU
    after = trainer.generator.get_weights()
    assert all(np.all(np.isfinite(w)) for w in after)
    changed = [not np.array_equal(a, b) for a, b in zip(run["initial"], after)]
    assert sum(changed) == len(changed)  # every generator weight received a gradient
    for row in run["rows"]:
        for key in ("loss", "reconstruction", "histogram", "adversarial", "tv", "d_loss"):
            assert np.isfinite(row[key]), (key, row)
    # the total is the weighted sum of the terms (tiny: no classification head, so no classification term)
    weights = trainer.config.loss_weights
    row = run["rows"][0]
    assert "classification" not in row
    expected = sum(weights[name] * row[name] for name in ("reconstruction", "histogram", "adversarial", "tv"))
    assert row["loss"] == pytest.approx(expected, rel=1e-5)
    # an untrained discriminator says ~0.5 everywhere: BCE ≈ log 2 per half
    assert run["rows"][0]["d_loss"] == pytest.approx(2 * np.log(2), abs=0.1)


def test_data_position_advances_over_epochs(run):
    # 8 images, batch 2: 4 batches per epoch; 4 steps = exactly one epoch
    assert (run["trainer"].epoch, run["trainer"].batch_index) == (1, 0)
    assert [(r["epoch"], r["batch"]) for r in run["rows"]] == [(0, 1), (0, 2), (0, 3), (1, 0)]


def test_metrics_csv_and_jsonl(run):
    with open(run["out"] / "metrics.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert tuple(reader.fieldnames) == train.METRIC_COLUMNS
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(r["classification"] == "" for r in rows)
    assert float(rows[0]["loss"]) == pytest.approx(run["rows"][0]["loss"], rel=1e-6)
    assert all(float(r["img_per_s"]) > 0 for r in rows)
    lines = (run["out"] / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]


def test_tensorboard_events(run):
    tf = pytest.importorskip("tensorflow")   # TensorFlow's own reader (the TensorFlow-free job has none)

    events = list((run["out"] / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    tags = collections.Counter()
    for path in events:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags[value.tag] += 1
    assert tags["loss"] == 4 and tags["d_loss"] == 4 and tags["generator/reconstruction"] == 4
    assert tags["img_per_s"] == 4
    assert tags["gray | output | reference | ground truth"] == 2  # steps 2 and 4


def test_image_grids(run):
    assert sorted(p.name for p in (run["out"] / "images").glob("*.png")) == ["step_00000002.png",
                                                                             "step_00000004.png"]
    grid = np.asarray(Image.open(run["out"] / "images" / "step_00000004.png"))
    assert grid.shape == (2 * 32, 4 * 32, 3)  # 2 examples; gray | output | reference | ground truth
    gray = grid[:, :32].astype(int)
    assert np.abs(gray[..., 0] - gray[..., 1]).max() <= 2  # the first column is gray


def test_image_grid_columns():
    n, s = 2, 8
    l = np.full((n, s, s, 1), 0.2, np.float32)
    ab = np.zeros((n, s, s, 2), np.float32)
    ab[..., 0] = 0.4  # a reddish colour
    grid = train.image_grid(l, ab, np.concatenate([l[:, :4, :4], ab[:, :4, :4]], -1), ab)
    assert grid.shape == (n * s, 4 * s, 3) and grid.dtype == np.float32
    gray, out, ref, truth = (grid[:s, k * s:(k + 1) * s] for k in range(4))
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-5)
    np.testing.assert_allclose(out, truth)
    np.testing.assert_allclose(ref, truth, atol=1e-6)  # the 4 x 4 reference, resized to 8 x 8
    assert out[..., 0].mean() > out[..., 1].mean() + 0.1  # positive a: red above green


# ----------------------------------------------------------------------------------------------- checkpoints
def test_checkpoints_keep_the_last_two_and_are_complete(run):
    found = train.list_checkpoints(run["out"])
    assert [path.name for path in found] == ["step_00000002", "step_00000004"]
    for path in found:
        assert sorted(p.name for p in path.iterdir()) == ["discriminator.weights.h5", "generator.weights.h5",
                                                          "optimizers.npz", "state.json"]
    state = json.loads((found[0] / "state.json").read_text())
    assert (state["step"], state["epoch"], state["batch_index"]) == (2, 0, 2)
    assert not [p for p in (run["out"] / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporaries


def test_resume_is_bitwise_identical_to_an_uninterrupted_run(run, tmp_path):
    import shutil

    # "Killed" after step 2: a fresh trainer that has taken a step of its own (so its weights and optimizer state
    # differ) in a folder that holds the uninterrupted run's step-2 checkpoint, its recipe and its logs of steps 1-3
    # (logged after the checkpoint, then lost).
    out = tmp_path / "resumed"
    shutil.copytree(run["out"] / "checkpoints" / "step_00000002", out / "checkpoints" / "step_00000002")
    shutil.copy(run["out"] / "run.json", out / "run.json")
    lines = (run["out"] / "metrics.csv").read_text().splitlines()
    (out / "metrics.csv").write_text("\n".join(lines[:4]) + "\n")
    resumed = train.Trainer(train.TrainingRecipe("tiny", batch_size=2), out, checkpoint_every=2, log_every=1,
                            image_every=0, compile=False, progress=False)
    resumed.train_step(run["dataset"].batch(3, 1))
    assert resumed.restore() == 2
    assert (resumed.epoch, resumed.batch_index) == (0, 2)
    with open(out / "metrics.csv", newline="") as handle:  # the row of step 3 was dropped
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [1, 2]
    dataset = PairDataset(run["dataset"].folder, "train", "tiny", batch_size=2, drop_remainder=True)
    resumed.fit(dataset, 4)   # until step 4: the two steps still missing
    assert resumed.step == 4
    assert resumed.fit(dataset, 3) == [] and resumed.step == 4   # already past step 3: nothing to do
    expected, got = _all_state(run["trainer"]), _all_state(resumed)
    assert len(expected) == len(got)
    for a, b in zip(expected, got):
        assert a.shape == b.shape and np.array_equal(a, b)  # bitwise, optimizer state included


def test_restore_errors_and_mixed_precision(run, tmp_path):
    # bfloat16 arithmetic, float32 weights (what "auto" picks on a GPU), forced here on the CPU
    fresh = train.Trainer(train.TrainingRecipe("tiny", precision="mixed_bfloat16"), tmp_path / "empty", compile=False,
                          progress=False)
    assert fresh.generator.dtype_policy.name == "mixed_bfloat16"
    assert all(w.dtype == np.float32 for w in fresh.generator.get_weights())
    import keras

    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back after the build
    inputs, targets = run["dataset"].batch(0, 0)
    # one image: bfloat16 is slow on a CPU
    one = ({k: v[:1] for k, v in inputs.items()}, {k: v[:1] for k, v in targets.items()})
    losses = fresh.train_step(one)
    assert all(np.isfinite(v) for v in losses.values()) and fresh.step == 1

    assert fresh.restore() == 0  # nothing to resume: a no-op
    with pytest.raises(train.CheckpointError, match="missing"):
        fresh.restore(tmp_path / "nowhere")
    fresh.recipe = fresh.recipe.replace(config=fresh.config.replace(temperature=0.5))
    with pytest.raises(train.CheckpointError, match="other settings"):
        fresh.restore(train.list_checkpoints(run["out"])[-1])
    assert issubclass(train.CheckpointError, ColorlabError)


def test_export_generator_round_trip(run, tmp_path):
    from colorlab.models import Gray2ColorConfig, build_gray2colornet

    trainer = run["trainer"]
    weights, config_path = trainer.export_generator(tmp_path / "model" / "generator.weights.h5")
    assert config_path.name == "generator.json"
    config = Gray2ColorConfig.from_dict(json.loads(config_path.read_text())["config"])
    assert config == trainer.config
    model = build_gray2colornet(config)
    model.load_weights(weights)
    trainer.sync()
    for exported, trained in zip(model.weights, trainer.generator.weights, strict=True):   # the same bits
        assert exported.path == trained.path
        np.testing.assert_array_equal(np.asarray(exported.value), np.asarray(trained.value))
    batch = run["dataset"].batch(0, 0)[0]
    # the same colours; on JAX, predict_ab is jit-compiled and XLA's fused kernels round otherwise than the eager
    # call (measured 5e-7), on TensorFlow both are eager and agree exactly
    atol = 0.0 if keras.backend.backend() == "tensorflow" else 1e-5
    np.testing.assert_allclose(np.asarray(model(batch, training=False)["ab"]),
                               trainer.predict_ab(batch["target_l"], batch["reference_lab"]), rtol=0, atol=atol)
    from colorlab.models import load_generator   # colorize reads exactly what the trainer exports
    assert load_generator(weights).config == trainer.config
    with pytest.raises(ConfigError, match="weights.h5"):
        trainer.export_generator(tmp_path / "generator.h5")


def test_load_generator_starts_a_new_run_from_exported_weights(run, tmp_path):
    weights, _ = run["trainer"].export_generator(tmp_path / "donor.weights.h5")
    trainer = train.Trainer(train.TrainingRecipe("tiny", seed=5), tmp_path / "fine_tune", compile=False, progress=False)
    fresh_discriminator = [np.array(w) for w in trainer.discriminator.get_weights()]
    before = [np.array(w) for w in trainer.generator.get_weights()]
    donor = [np.array(w) for w in run["trainer"].generator.get_weights()]
    assert any(not np.array_equal(a, b) for a, b in zip(before, donor))   # another seed: other weights
    trainer.load_generator(weights)
    for loaded, expected in zip(trainer.generator.get_weights(), donor):
        np.testing.assert_array_equal(np.array(loaded), expected)
    for kept, expected in zip(trainer.discriminator.get_weights(), fresh_discriminator):
        np.testing.assert_array_equal(np.array(kept), expected)   # only the generator is loaded
    assert trainer.step == 0
    with pytest.raises(train.CheckpointError, match="no such weights file"):
        trainer.load_generator(tmp_path / "missing.weights.h5")
    other = train.Trainer(get_config("tiny", base_width=4), tmp_path / "other", compile=False, progress=False)
    with pytest.raises(train.CheckpointError, match="base_width 8 .this trainer: 4."):
        other.load_generator(weights)
    # other loss weights and another discriminator do not shape the generator: a fine-tune may change them
    retuned = train.Trainer(get_config("tiny", loss_weights={"histogram": 2.0}, disc_width=4),
                            tmp_path / "retuned", compile=False, progress=False)
    retuned.load_generator(weights)
    for loaded, expected in zip(retuned.generator.get_weights(), donor):
        np.testing.assert_array_equal(np.array(loaded), expected)
    # nor does the working size, with the size-free "stats" gate; the paper's "full_column" gate depends on it
    resized = train.Trainer(get_config("tiny", image_size=48, reference_size=40), tmp_path / "resized",
                            compile=False, progress=False)
    resized.load_generator(weights)
    for loaded, expected in zip(resized.generator.get_weights(), donor):
        np.testing.assert_array_equal(np.array(loaded), expected)
    column = train.Trainer(get_config("tiny", gate="full_column", image_size=48, reference_size=48),
                           tmp_path / "column", compile=False, progress=False)
    with pytest.raises(train.CheckpointError, match="gate"):
        column.load_generator(weights)
    (tmp_path / "donor.json").unlink()
    with pytest.raises(train.CheckpointError, match="config file"):
        trainer.load_generator(weights)


def test_cli_fine_tunes_and_resumes_only_with_the_same_settings(tree, run, tmp_path, capsys):
    from colorlab.cli import main

    weights, _ = run["trainer"].export_generator(tmp_path / "donor.weights.h5")
    out = tmp_path / "fine_tune"
    common = ["train", "--config", "tiny", "--data", str(tree), "--out", str(out), "--batch-size", "2", "--eager",
              "--checkpoint-every", "1", "--image-every", "0", "--learning-rate", "1e-5", "--mode-ratio", "0",
              "--seed", "7"]
    assert main(common + ["--steps", "1", "--init", str(weights)]) == 0
    assert "generator starts from" in capsys.readouterr().out
    recipe = json.loads((out / "run.json").read_text())
    assert recipe["learning_rate"] == 1e-5 and recipe["mode_ratio"] == 0 and recipe["init"] == str(weights)
    step_one = _h5_arrays(train.list_checkpoints(out)[-1] / "generator.weights.h5")
    donor = _h5_arrays(weights)
    kernels = [k for k in donor if donor[k].ndim == 4]
    assert len(kernels) > 5
    # seed 7 alone would give other random weights; one Adam step at 1e-5 moves each by about 1e-5
    assert max(np.abs(step_one[k] - donor[k]).max() for k in kernels) < 1e-4
    changed = common[:-3] + ["0.5", "--seed", "7"]   # --mode-ratio 0.5 instead of 0
    assert changed[-4] == "--mode-ratio"
    assert main(changed + ["--steps", "1", "--resume"]) == 2
    error = capsys.readouterr().err
    assert "other settings" in error and "--mode-ratio 0.0 (now 0.5)" in error
    assert main(common + ["--steps", "2", "--resume"]) == 0
    assert "resumed from step 1" in capsys.readouterr().out
    assert [p.name for p in train.list_checkpoints(out)] == ["step_00000001", "step_00000002"]
    assert main(common + ["--steps", "2", "--resume"]) == 0   # the run is at step 2 already: nothing to train
    assert "already at step 2 (--steps 2): nothing to train" in capsys.readouterr().out
    assert [p.name for p in train.list_checkpoints(out)] == ["step_00000001", "step_00000002"]
    for bad, message in ((["--mode-ratio", "1.5"], "--mode-ratio must lie in [0, 1]"),
                         (["--learning-rate", "0"], "--learning-rate must be > 0")):
        assert main(["train", "--config", "tiny", "--data", str(tree), "--steps", "1", "--out",
                     str(tmp_path / "bad")] + bad) == 2
        assert message in capsys.readouterr().err


def test_bad_arguments_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="mixed_precision"):
        train.resolve_precision("float16")
    assert train.resolve_precision(False) == "float32"
    assert train.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(ConfigError, match="learning_rate"):
        train.TrainingRecipe("tiny", learning_rate=0)
    with pytest.raises(ConfigError, match="distribute"):
        train.Trainer("tiny", tmp_path, distribute="ring")
    with pytest.raises(ConfigError, match="unknown config"):
        train.Trainer("huge", tmp_path)


# ----------------------------------------------------------------------------------------------- the recipe
def test_recipe_validates_round_trips_and_names_differences(tmp_path):
    recipe = train.TrainingRecipe("tiny", batch_size=2, init=tmp_path / "donor.weights.h5")
    assert recipe.config == get_config("tiny") and recipe.init == str(tmp_path / "donor.weights.h5")
    assert train.TrainingRecipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    other = recipe.replace(mode_ratio=0.25, learning_rate=1e-3, init=None)
    assert recipe.differences(other) == ["--learning-rate 0.0002 (now 0.001)", "--mode-ratio 0.5 (now 0.25)"]
    assert recipe.differences(recipe.replace(config="laptop")) == ["--config tiny (now laptop)"]
    assert recipe.differences(recipe.replace(config=get_config("tiny", temperature=0.5))) == [
        "config.temperature 0.01 (now 0.5)"]
    for bad, message in ((dict(batch_size=0), "--batch-size must be an integer >= 1"),
                         (dict(mode_ratio=1.5), "--mode-ratio must lie in [0, 1]"),
                         (dict(beta_1=1.0), "--beta-1 must lie in [0, 1)"),
                         (dict(adversarial_kind="wgan"), "--adversarial-kind must be one of"),
                         (dict(precision="float16"), "--precision must be one of"),
                         (dict(config="huge"), "unknown config")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            train.TrainingRecipe(**{"config": "tiny", **bad})
    with pytest.raises(ConfigError, match="unknown TrainingRecipe field"):
        train.TrainingRecipe.from_dict({**recipe.to_dict(), "steps": 3})


def test_run_json_is_the_recipe_and_a_resume_with_other_settings_is_refused(run, tmp_path):
    recipe = run["trainer"].recipe
    assert json.loads((run["out"] / "run.json").read_text()) == recipe.to_dict()
    other = train.Trainer(recipe.replace(mode_ratio=0.25, learning_rate=1e-3), run["out"], compile=False,
                          progress=False)
    with pytest.raises(ConfigError, match=re.escape("other settings: --learning-rate 0.0002 (now 0.001), "
                                                    "--mode-ratio 0.5 (now 0.25)")):
        other.restore()
    # fit takes batches from a dataset made with the recipe's batch size, pair mix and seed
    dataset = PairDataset(run["dataset"].folder, "train", "tiny", batch_size=4, seed=1, drop_remainder=True)
    fresh = train.Trainer(train.TrainingRecipe("tiny", batch_size=2), tmp_path / "fresh", compile=False,
                          progress=False)
    with pytest.raises(ConfigError, match=r"batch_size 4 \(recipe: 2\), seed 1 \(recipe: 0\)"):
        fresh.fit(dataset, 1)


# ----------------------------------------------------------------------------------------------- subprocesses
def _h5_arrays(path):
    import h5py

    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                          else None)
    return arrays


def test_cli_on_jax_trains_two_steps(background):
    result = background("jax_cli")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "step 2: loss" in result.stdout
    out = background.work / "jax_run"
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [1, 2]  # the JAX machine has logs without TensorFlow
    assert all(np.isfinite(float(r[key])) for r in rows for key in ("loss", "reconstruction", "d_loss"))
    checkpoints = train.list_checkpoints(out)
    assert [p.name for p in checkpoints] == ["step_00000001", "step_00000002"]
    assert json.loads((checkpoints[-1] / "state.json").read_text())["backend"] == "jax"
    first, second = (_h5_arrays(p / "generator.weights.h5") for p in checkpoints)
    assert first.keys() == second.keys() and len(first) > 50
    assert all(np.all(np.isfinite(v)) for v in second.values())
    assert any(not np.array_equal(first[k], second[k]) for k in first)  # step 2 changed the weights
    exported = _h5_arrays(out / "generator.weights.h5")
    assert all(np.array_equal(exported[k], second[k]) for k in second)
    assert json.loads((out / "generator.json").read_text())["config"]["name"] == "tiny"
    assert (out / "images" / "step_00000002.png").is_file()
    # nothing on the JAX path imports TensorFlow: steps, checkpoints, logs, TensorBoard, images, export
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"tensorflow_modules": []}
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    events = event_accumulator.EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert [event.step for event in events.Scalars("loss")] == [1, 2]
    assert [event.value for event in events.Scalars("loss")] == pytest.approx([float(r["loss"]) for r in rows])
    image = events.Images("gray | output | reference | ground truth")[0]
    assert (image.step, image.width, image.height) == (2, 4 * 32, 2 * 32)


def test_cli_errors_are_one_line(tmp_path, run, capsys):
    result = subprocess.run([sys.executable, "-m", "colorlab", "train", "--config", "tiny", "--data",
                             str(tmp_path / "missing"), "--steps", "2", "--out", str(tmp_path / "out")],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("colorlab: error: --data")
    assert "missing" in result.stderr and "Traceback" not in result.stderr
    # in-process from here (TensorFlow is loaded already): a run's folder is not trained over without --resume
    from colorlab.cli import main

    assert main(["train", "--config", "tiny", "--data", str(tmp_path), "--steps", "1", "--out",
                 str(run["out"])]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--config", "tiny", "--data", str(tmp_path), "--steps", "0", "--out",
                 str(tmp_path)]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err


def test_two_replicas_average_their_gradients(background):
    pytest.importorskip("tensorflow")   # two logical CPUs under tf.distribute
    result = background("replicas")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    # each replica saw half the batch: the mean of their gradients is that of the halves' on one device, and the
    # whole batch's up to float rounding (a batch of 2 rounds otherwise than one of 4, which the generator's
    # gradient feels most: measured 1e-4 of its norm, 3e-4 of the largest value in a weight)
    assert report["g_rel"] < 1e-6 and report["d_rel"] < 1e-6
    assert report["g_whole"] < 1e-3 and report["d_whole"] < 1e-5
    assert report["loss_mirrored"] == pytest.approx(report["loss_single"], rel=1e-5)
    assert all(np.isfinite(v) for v in report["step_losses"].values())
    assert report["changed"] == report["n"]
