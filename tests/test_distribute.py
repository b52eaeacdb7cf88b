"""Tests for colorlab.distribute and distributed training: two devices in one process, and two worker processes.

Every run trains the ``tiny`` config on tests/places_tree.py's folder with a global batch of 4 and is checked against
one device on the same global batches, through the losses of each step (:data:`LOSS_RTOL`) and the weight *updates*
(weights after the steps minus the initial ones): ``|Δ_distributed − Δ_one device| / |Δ_one device|`` (L2 norms
over a network's weights) must stay under :data:`D_TOLERANCE` for the discriminator after 1, 2 and 3 steps and
under :data:`G_TOLERANCE` for the generator after 1 step.

Why not the generator after 2-3 steps: its gradients carry float noise that Adam turns into whole steps (Adam moves
a weight by about the learning rate whatever the size of its gradient, so a gradient near zero that changes sign
moves its weight the other way), and the changed weights change the next gradients. Measured on one device
(TensorFlow, tiny, batch 4), the same steps with the batch's rows in another order, which changes nothing but the
order of the sums, give generator updates that differ by 1e-6, 0.2 %, 2.6 % and 11 % after 1 to 4 steps. Two
devices change more than the order (each computes on 2 examples, and JAX's CPU kernels round differently at
another batch size): measured 3e-4 (TensorFlow) and 6 % (JAX) after one step, 32 % and 39 % after three. The
discriminator's update and the losses stay close (measured at most 5e-4 and 3e-4 relative). For scale, a
broken run that trains on half of each batch: generator 0.89 after one step, discriminator 4e-3, the loss of step
2 off by 8 %.

Each run is a subprocess (a fresh backend: JAX with two CPU devices through ``XLA_FLAGS``; TensorFlow with the CPU
split into two logical devices; workers that join over 127.0.0.1 on ports free at the start), started together
when the module starts and collected by the tests. The worker processes run the command line with
``--distribute multi-worker``, each with its own ``--out``: the chief's gets the run, the other's must stay empty.
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from jaxrun import last_json, run_on_jax
from places_tree import write_places_tree

from colorlab.data import PairDataset
from colorlab.distribute import MODES, Distribution
from colorlab.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Largest ``|Δ_distributed − Δ_one device| / |Δ_one device|`` of the discriminator's and (after one step) the
#: generator's weight updates, and relative difference of the losses (see the module docstring).
D_TOLERANCE = 2e-3
G_TOLERANCE = 0.2
LOSS_RTOL = 1e-3
BATCH = 4
TIMEOUT = 900

# One device, then two devices of this process (data-parallel), each for 3 steps (one fit each), logs and
# images every step; weights saved as .weights.h5 at steps 0 to 3.
_DEVICES_SCRIPT = textwrap.dedent("""
    import json, os, sys
    backend, tree, out = sys.argv[1:4]
    if backend == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from colorlab.data import PairDataset
    from colorlab.train import Trainer, TrainingRecipe
    report = {}
    for mode in ("none", "data-parallel"):
        trainer = Trainer(TrainingRecipe("tiny", batch_size=4), f"{out}/{mode}", distribute=mode, compile=False,
                          progress=False, log_every=1, checkpoint_every=1, image_every=1 if mode != "none" else 0)
        dataset = PairDataset(tree, "train", "tiny", batch_size=4, drop_remainder=True,
                              shard=trainer.distribution.shard)
        os.makedirs(f"{out}/{mode}", exist_ok=True)
        def save(step):
            trainer.sync()
            trainer.generator.save_weights(f"{out}/{mode}/generator_{step}.weights.h5")
            trainer.discriminator.save_weights(f"{out}/{mode}/discriminator_{step}.weights.h5")
        save(0)
        rows = []
        for step in (1, 2, 3):
            rows += trainer.fit(dataset, step)   # until that step: one more
            save(step)
        report[mode] = {"replicas": trainer.distribution.replicas, "losses": [row["loss"] for row in rows],
                        "d_losses": [row["d_loss"] for row in rows]}
    print(json.dumps(report))
""")


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (the operating system picks them)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("127.0.0.1", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def _env(backend: str, **extra) -> dict:
    """A subprocess's environment on ``backend`` (``"jax"`` or ``"tf"``), plus ``extra``."""
    env = {**os.environ, "KERAS_BACKEND": {"jax": "jax", "tf": "tensorflow"}[backend], "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT), **extra}
    if backend == "jax":
        # the CPU only, compiled quickly; collectives between processes through Gloo (JAX's default on the CPU)
        env.update(JAX_PLATFORMS="cpu", JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
        env["XLA_FLAGS"] = " ".join(filter(None, [extra.get("XLA_FLAGS", ""),
                                                  "--xla_backend_optimization_level=0"]))
    return env


def _worker_envs(backend: str) -> list[dict]:
    """The environments of two worker processes that form one cluster on 127.0.0.1."""
    ports = _free_ports(2)
    if backend == "jax":
        return [_env("jax", KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{ports[0]}",
                     KERAS_DISTRIBUTION_NUM_PROCESSES="2", KERAS_DISTRIBUTION_PROCESS_ID=str(index))
                for index in range(2)]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return [_env("tf", TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
            for index in range(2)]


def _train_command(tree, out, steps: int, *extra) -> list[str]:
    return [sys.executable, "-m", "colorlab", "train", "--config", "tiny", "--data", str(tree), "--steps", str(steps),
            "--out", str(out), "--batch-size", str(BATCH), "--log-every", "1", "--checkpoint-every", "1",
            "--image-every", "1", "--distribute", "multi-worker", *extra]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_places_tree(tmp_path_factory.mktemp("places") / "root", (40, 48), (40, 48))


@pytest.fixture(scope="module")
def background(tree, tmp_path_factory):
    """Starts every subprocess run at once; ``wait(name)`` collects one (a CompletedProcess, or a list of them)."""
    work = tmp_path_factory.mktemp("distributed")
    jax_envs, tf_envs = _worker_envs("jax"), _worker_envs("tf")
    commands = {
        "jax_devices": [([sys.executable, "-c", _DEVICES_SCRIPT, "jax", str(tree), str(work / "jax_devices")],
                         _env("jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"))],
        "tf_devices": [([sys.executable, "-c", _DEVICES_SCRIPT, "tensorflow", str(tree), str(work / "tf_devices")],
                        _env("tf"))],
        "jax_workers": [(_train_command(tree, work / f"jax_worker{index}", 2), env)
                        for index, env in enumerate(jax_envs)],
        "tf_workers": [(_train_command(tree, work / f"tf_worker{index}", 2, "--eager"), env)
                       for index, env in enumerate(tf_envs)],
    }
    processes = {name: [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True) for command, env in runs] for name, runs in commands.items()}
    results = {}

    def wait(name):
        if name not in results:
            results[name] = [subprocess.CompletedProcess(process.args, process.returncode, *process.communicate(
                timeout=TIMEOUT)) for process in processes[name]]
            for process, result in zip(processes[name], results[name]):
                result.returncode = process.returncode
        return results[name]

    wait.work = work
    yield wait
    for runs in processes.values():
        for process in runs:
            if process.poll() is None:
                process.kill()
                process.communicate()


def _weights(path) -> dict[str, np.ndarray]:
    """Every array of a Keras ``.weights.h5`` file, by its path in the file."""
    import h5py

    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: arrays.__setitem__(name, np.array(item))
                          if isinstance(item, h5py.Dataset) else None)
    assert arrays, path
    return arrays


def _update_error(initial, reference, other) -> float:
    """``|Δ_other − Δ_reference| / |Δ_reference|`` over every array of a network's weights files."""
    start, want, got = _weights(initial), _weights(reference), _weights(other)
    assert want.keys() == got.keys() == start.keys()
    ours = np.concatenate([(got[k] - start[k]).ravel() for k in sorted(start)]).astype(np.float64)
    theirs = np.concatenate([(want[k] - start[k]).ravel() for k in sorted(start)]).astype(np.float64)
    assert np.linalg.norm(theirs) > 0
    return float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))


def _check_done(results) -> None:
    for result in results:
        assert result.returncode == 0, result.stderr[-4000:]


# --------------------------------------------------------------------------------------------- Distribution
def test_one_device_is_the_plain_path():
    distribution = Distribution("none")
    assert MODES == ("none", "data-parallel", "multi-worker")
    assert (distribution.replicas, distribution.shard, distribution.is_chief) == (1, (0, 1), True)
    assert distribution.strategy is None and distribution.keras_distribution is None
    rows = {"target_l": np.zeros((3, 2, 2, 1), np.float32)}
    assert distribution.global_batch(rows) is rows
    with distribution.scope():
        pass
    distribution.check_batch_size(3)
    assert "none" in repr(distribution)


def test_bad_modes_and_missing_clusters_are_one_clear_error(monkeypatch):
    with pytest.raises(ConfigError, match="distribute must be one of"):
        Distribution("mirrored")
    import keras

    if keras.backend.backend() == "tensorflow":   # the JAX side runs in the subprocesses
        monkeypatch.delenv("TF_CONFIG", raising=False)
        with pytest.raises(ConfigError, match="TF_CONFIG"):
            Distribution("multi-worker")
        monkeypatch.setenv("TF_CONFIG", "{not json")
        with pytest.raises(ConfigError, match="TF_CONFIG is not a cluster"):
            Distribution("multi-worker")


_JAX_ERRORS_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from colorlab.distribute import JAX_CLUSTER_VARIABLES, Distribution
    from colorlab.errors import ConfigError
    for name in JAX_CLUSTER_VARIABLES:
        os.environ.pop(name, None)
    messages = []
    for variables in ({}, {"KERAS_DISTRIBUTION_NUM_PROCESSES": "two"}):
        os.environ.update(variables)
        try:
            Distribution("multi-worker")
        except ConfigError as error:
            messages.append(str(error))
    print(json.dumps({"messages": messages, "tensorflow": "tensorflow" in sys.modules}))
""")


def test_multi_worker_on_jax_without_a_cluster_is_one_clear_error():
    report = last_json(run_on_jax(_JAX_ERRORS_SCRIPT))
    assert len(report["messages"]) == 2
    assert "could not join the cluster" in report["messages"][0] and "KERAS_DISTRIBUTION_JOB_ADDRESSES" in \
        report["messages"][0]
    assert "must be integers" in report["messages"][1]
    assert not report["tensorflow"]   # the JAX side never imports TensorFlow


def test_importing_it_is_light():
    code = "import sys, colorlab.distribute; print([m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


# --------------------------------------------------------------------------------------------- data shards
def test_shards_of_a_batch_make_up_the_batch(tree):
    """Bit for bit, also when a worker process prepares a shard (its shared-memory slots hold a shard's rows)."""
    whole = PairDataset(tree, "train", "tiny", batch_size=4, drop_remainder=True)
    halves = [PairDataset(tree, "train", "tiny", batch_size=4, drop_remainder=True, shard=(k, 2), processes=k)
              for k in range(2)]
    assert len(halves[0]) == len(whole)
    with halves[1]:
        for epoch in (0, 1):
            want = whole.batch(0, epoch)
            parts = [half.batch(0, epoch) for half in halves]
            for index in range(2):
                for key, value in want[index].items():
                    assert parts[0][index][key].shape[0] == 2
                    np.testing.assert_array_equal(np.concatenate([p[index][key] for p in parts]), value)


def test_shard_is_validated(tree):
    for shard in ((2, 2), (-1, 2), (0, 0), "0/2", (0.0, 1)):
        with pytest.raises(ConfigError, match="shard"):
            PairDataset(tree, "train", "tiny", batch_size=4, drop_remainder=True, shard=shard)
    with pytest.raises(ConfigError, match="multiple of 3"):
        PairDataset(tree, "train", "tiny", batch_size=4, drop_remainder=True, shard=(0, 3))
    with pytest.raises(ConfigError, match="drop_remainder"):
        PairDataset(tree, "train", "tiny", batch_size=4, shard=(0, 2))


# --------------------------------------------------------------------------------------------- two devices
def _check_updates(reference: pathlib.Path, weights, steps) -> None:
    """The updates after ``steps`` agree with one device's (``reference``: the folder of the devices script's
    ``none`` run); ``weights(network, step)`` is the distributed run's ``.weights.h5`` file."""
    for network, tolerance in (("discriminator", D_TOLERANCE), ("generator", G_TOLERANCE)):
        for step in steps if network == "discriminator" else [s for s in steps if s == 1]:
            error = _update_error(reference / f"{network}_0.weights.h5", reference / f"{network}_{step}.weights.h5",
                                  weights(network, step))
            assert error < tolerance, (network, step, error)


def _devices_report(background, backend: str) -> dict:
    results = background(f"{backend}_devices")
    _check_done(results)
    return json.loads(results[0].stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["jax", "tf"])
def test_two_devices_train_as_one(background, backend):
    report = _devices_report(background, backend)
    assert report["data-parallel"]["replicas"] == 2 and report["none"]["replicas"] == 1
    for key in ("losses", "d_losses"):
        np.testing.assert_allclose(report["data-parallel"][key], report["none"][key], rtol=LOSS_RTOL)
    out = background.work / f"{backend}_devices"
    _check_updates(out / "none", lambda network, step: out / f"data-parallel/{network}_{step}.weights.h5", (1, 2, 3))
    # the distributed run checkpointed and logged images like a one-device run
    assert (out / "data-parallel/checkpoints/step_00000003/state.json").is_file()
    images = sorted(p.name for p in (out / "data-parallel/images").iterdir())
    assert images == [f"step_{k:08d}.png" for k in (1, 2, 3)]


# --------------------------------------------------------------------------------------------- two processes
def _check_chief_run(background, backend: str, out: pathlib.Path, steps) -> None:
    """The chief's folder holds the run, whose updates and logged losses agree with one device's."""
    reference = background.work / f"{backend}_devices/none"
    _check_updates(reference, lambda network, step: out / f"checkpoints/step_{step:08d}/{network}.weights.h5", steps)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged] == list(range(1, max(steps) + 1))
    want = _devices_report(background, backend)["none"]
    for key, column in (("loss", "losses"), ("d_loss", "d_losses")):
        np.testing.assert_allclose([row[key] for row in logged], want[column][:max(steps)], rtol=LOSS_RTOL)
    assert (out / "run.json").is_file() and (out / "generator.weights.h5").is_file()
    assert (out / "images" / f"step_{max(steps):08d}.png").is_file()


@pytest.mark.parametrize("backend", ["jax", "tf"])
def test_two_worker_processes_train_as_one_and_only_the_chief_writes(background, backend):
    results = background(f"{backend}_workers")
    _check_done(results)
    chief, other = background.work / f"{backend}_worker0", background.work / f"{backend}_worker1"
    assert not other.exists(), sorted(p.name for p in other.rglob("*"))
    assert "step 2" in results[0].stdout
    # the other process prints nothing (but the hello of JAX's CPU collectives)
    assert [line for line in results[1].stdout.splitlines() if not line.startswith("[Gloo]")] == []
    _check_chief_run(background, backend, chief, (1, 2))


@pytest.mark.parametrize("backend", ["jax", "tf"])
def test_workers_resume_from_the_shared_checkpoint(background, tree, backend):
    """Every process restores (here each from its copy of the chief's folder), then they train on as one."""
    _check_done(background(f"{backend}_workers"))
    chief = background.work / f"{backend}_worker0"
    copy = background.work / f"{backend}_worker1_resume"
    shutil.copytree(chief, copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    extra = ["--resume"] + (["--eager"] if backend == "tf" else [])   # --steps 3: until step 3, one more
    processes = [subprocess.Popen(_train_command(tree, out, 3, *extra), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for out, env in zip((chief, copy), _worker_envs(backend))]
    results = [subprocess.CompletedProcess(p.args, 0, *p.communicate(timeout=TIMEOUT)) for p in processes]
    for process, result in zip(processes, results):
        result.returncode = process.returncode
    _check_done(results)
    assert "resumed from step 2" in results[0].stdout
    after = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert after == before   # the other process read the checkpoint and wrote nothing
    _check_chief_run(background, backend, chief, (2, 3))   # the last two checkpoints are kept
