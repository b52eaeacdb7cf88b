"""colorlab.quiet: TensorFlow's C++ start-up notices never reach a CLI user or a notebook; real errors do."""

import os
import subprocess
import sys
import textwrap

import pytest

from colorlab.quiet import ENV_SHOW_ALL, filtered_stderr, is_startup_notice

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Seen verbatim from TensorFlow 2.21 on a machine without a GPU.
NOTICES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796325516.270376   27151 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "I0000 00:00:1796325516.829292   27151 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
    "E0000 00:00:1796325528.640895   27151 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
    "I1203 19:12:01.000001    812 some_module.cc:12] any INFO line",
    # Grappler, when it first optimises a compiled training step on a oneDNN CPU: one fusion skipped.
    "E0000 00:00:1796384966.078048    5897 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: "
    "Mutation::Apply error: fanout 'gradient_tape/lrelu0_3/LeakyRelu/LeakyReluGrad' exist for missing node "
    "'conv0_3/add_4'.",
    "E0000 00:00:1796385699.669158    7661 util.cc:131] oneDNN supports DT_INT32 only on platforms with AVX-512. "
    "Falling back to the default Eigen-based implementation if present.",
]
REAL = [
    "E0000 00:00:1796325528.640895   27151 bfc_allocator.cc:47] Allocator ran out of memory trying to allocate 4GiB",
    "W0000 00:00:1796325528.640895   27151 op_kernel.cc:1829] INVALID_ARGUMENT: Incompatible shapes",
    "E0000 00:00:1796384966.078048    5897 meta_optimizer.cc:967] layout failed: INVALID_ARGUMENT: Size of values",
    "Traceback (most recent call last):",
    "ImportError: libcudnn.so.9: cannot open shared object file",
    "",
]


@pytest.mark.parametrize("line", NOTICES)
def test_start_up_notices_are_recognised(line):
    assert is_startup_notice(line)


@pytest.mark.parametrize("line", REAL)
def test_real_errors_and_warnings_are_kept(line):
    assert not is_startup_notice(line)


FAKE_TENSORFLOW = textwrap.dedent('''
    import os

    def _say(text):
        os.write(2, (text + "\\n").encode())

    _say({notice0!r})
    _say({notice1!r})
    _say("E0000 00:00:1.1   1 real.cc:1] a real error at import")

    class config:
        @staticmethod
        def list_physical_devices():
            _say({cuinit!r})
            return []
''')


def _run_with_fake_tensorflow(tmp_path, extra_env=None):
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(FAKE_TENSORFLOW.format(notice0=NOTICES[0], notice1=NOTICES[1],
                                                                cuinit=NOTICES[4]))
    env = {key: value for key, value in os.environ.items() if key != ENV_SHOW_ALL}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]), **(extra_env or {}))
    code = "import colorlab, sys; import tensorflow; print('imported', file=sys.stderr)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_the_first_tensorflow_import_drops_notices_and_replays_real_lines(tmp_path):
    result = _run_with_fake_tensorflow(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["E0000 00:00:1.1   1 real.cc:1] a real error at import", "imported"]


def test_everything_shows_when_asked(tmp_path):
    result = _run_with_fake_tensorflow(tmp_path, {ENV_SHOW_ALL: "1"})
    lines = result.stderr.splitlines()
    assert NOTICES[0] in lines and NOTICES[1] in lines and "imported" in lines


def test_a_cli_command_prints_no_tensorflow_notice(tmp_path):
    """The demo weights adapt to this reference by default: tracing the adaptation's step prints nothing either."""
    sample = os.path.join(ROOT, "data", "samples")
    result = subprocess.run(
        [sys.executable, "-m", "colorlab", "colorize", os.path.join(sample, "lake_1.jpg"), "-r",
         os.path.join(sample, "lake_2.jpg"), "-o", str(tmp_path / "out.png")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.png").is_file()
    lines = [line.strip() for line in result.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(line.startswith("adapt:") for line in lines), result.stderr   # the adaptation's bar only


def test_a_notebook_cell_shows_no_tensorflow_notice():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import colorlab\nimport keras\nprint(keras.backend.backend(), float(keras.ops.sum(keras.ops.ones(3))))")])
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    assert [output.get("name") for output in outputs] == ["stdout"], outputs
    assert outputs[0]["text"].strip() == "tensorflow 3.0"



FILTERED = textwrap.dedent('''
    import os, sys
    from colorlab.quiet import filtered_stderr

    print("before", file=sys.stderr, flush=True)
    with filtered_stderr():
        os.write(2, ({notice!r} + "\\n" + "E0000 00:00:1.1   1 real.cc:1] kept" + "\\n").encode())
    print("after", file=sys.stderr, flush=True)
''')


@pytest.mark.parametrize("show_all", [False, True])
def test_filtered_stderr_drops_notices_written_by_cpp_and_keeps_the_rest_in_order(show_all):
    env = {key: value for key, value in os.environ.items() if key != ENV_SHOW_ALL}
    env.update(PYTHONPATH=ROOT, **({ENV_SHOW_ALL: "1"} if show_all else {}))
    result = subprocess.run([sys.executable, "-c", FILTERED.format(notice=NOTICES[-1])], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = ["before", *([NOTICES[-1]] if show_all else []), "E0000 00:00:1.1   1 real.cc:1] kept", "after"]
    assert result.stderr.splitlines() == expected


TRAIN_STEPS = '''
import sys
import colorlab  # noqa: F401  (first, as in the notebooks)
import keras
import numpy as np
from colorlab.models import PatchDiscriminator, build_gray2colornet, get_config
from colorlab.step import GanStep

config = get_config("tiny")
generator = build_gray2colornet(config)
discriminator = PatchDiscriminator.from_model_config(config)
discriminator(keras.KerasTensor((1, config.image_size, config.image_size, 3)))
optimizers = [keras.optimizers.Adam(1e-3) for _ in range(2)]
gan = GanStep(generator, discriminator, *optimizers, config.loss_weights, compile=sys.argv[1] == "compiled")
rng = np.random.default_rng(0)
batch = {"target_l": rng.uniform(-1, 1, (2, 32, 32, 1)).astype("float32"),
         "reference_lab": rng.uniform(-0.5, 0.5, (2, 32, 32, 3)).astype("float32"),
         "target_ab": rng.uniform(-0.3, 0.3, (2, 32, 32, 2)).astype("float32"),
         "label": np.zeros(2, "int32")}
for _ in range(2):
    gan.run(batch)
print("done", file=sys.stderr)
'''


@pytest.mark.parametrize("mode", ["compiled", "eager"])
def test_training_steps_print_nothing_on_stderr(tmp_path, mode):
    """On oneDNN CPUs Grappler's first optimisation of the compiled step writes a 'remapper failed' line, and the
    first eager gradient of a padding a 'DT_INT32' one; the step runs inside filtered_stderr, so a student or a CLI
    user sees neither."""
    script = tmp_path / "steps.py"
    script.write_text(TRAIN_STEPS)
    env = {key: value for key, value in os.environ.items() if key != ENV_SHOW_ALL}
    env.update(PYTHONPATH=ROOT, KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, str(script), mode], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["done"]


TF_DATA = '''
import sys
import colorlab
from colorlab import data, io
from colorlab.course.ch02_data import build_mini_places365
build_mini_places365(sys.argv[1], 48, io.sample_paths()[:4])
pairs = data.PairDataset(sys.argv[1], "train", 32, batch_size=2, seed=0)
inputs, targets = next(iter(pairs.as_tf_dataset(epochs=1)))
print("done", file=sys.stderr)
'''


def test_the_tf_data_path_prints_nothing_on_stderr(tmp_path):
    """tf.data writes one INFO line from C++ the first time a generator dataset runs in a process ('Memory patch
    applied: M_TRIM_THRESHOLD=...', seen in chapter 02); PairDataset.as_tf_dataset keeps it off the page."""
    script = tmp_path / "tf_data.py"
    script.write_text(TF_DATA)
    env = {key: value for key, value in os.environ.items()                  # TensorFlow's log level as in a
           if key not in (ENV_SHOW_ALL, "TF_CPP_MIN_LOG_LEVEL")}           # notebook (the suite's conftest sets 2)
    env.update(PYTHONPATH=ROOT, KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "mini")], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["done"]
