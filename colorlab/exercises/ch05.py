"""Exercises of chapter 05 (transposed convolutions and the MCN decoder), checked by :func:`check`.

In ``notebooks/05_mcn_decoder.ipynb`` the student writes each function and calls::

    from colorlab.exercises import ch05
    deconv_output_size = ch05.check("deconv_output_size", deconv_output_size)

Exercises (name: what the student writes):

* ``"deconv_output_size"``: ``deconv_output_size(n, k, s, p) -> size`` — the output length of a transposed
  convolution with input length n, kernel k, stride s and padding p (cropped at each end).
* ``"overlap_count"``: ``overlap_count(n, k, s) -> array`` — for a 1-D transposed convolution without padding,
  how many kernel taps land on each output position.

Build it, in Keras (a layer class, checked by values and gradients against the package's):

* ``"DecoderStage"``: a subclass of :class:`colorlab.models.DecoderStage` whose ``call(x, fused, skip)`` the
  student writes with the stage's own sublayers (``entry_conv``, ``entry_norm``, ``blocks``, ``up``, ``skip_conv``,
  ``post_conv_layers``, ``post_activations``, ``post_norm``, ``head``), returning ``(features, ab)``. The notebook
  then builds its decoder with it.

The reference solutions of the NumPy exercises are plain NumPy; :mod:`colorlab.course.ch05_mcn` has the same
computations written another way (``transposed_conv_output_size``, ``overlap_count`` as the transposed convolution
of ones), and ``tests/test_course_ch05_ch06.py`` checks the two against each other and against Keras'
``Conv2DTranspose``.
"""

import numpy as np

from colorlab.exercises import BuildCase, BuildExercise, Exercise, Probe, make_checker
from colorlab.models.mcn import DecoderStage

__all__ = ["deconv_output_size", "overlap_count", "EXERCISES", "check"]


def deconv_output_size(n, k, s, p=0):
    """Output length of a transposed convolution: ``(n − 1)·s + k − 2p``.

    The n inputs each stamp a copy of the k-tap kernel, ``s`` apart: the first stamp starts at 0 and the last
    at ``(n − 1)·s``, so the stamps cover ``(n − 1)·s + k`` positions; ``p`` are then cropped at each end.

    Args:
        n: input length (an int or an int array); k: kernel size; s: stride; p: padding cropped at each end.

    Returns:
        The output length (same type as n).
    """
    return (np.asarray(n) - 1) * s + k - 2 * p


def overlap_count(n, k, s):
    """Number of kernel taps landing on each output position of a 1-D transposed convolution (no padding).

    Input i covers outputs ``i·s ... i·s + k − 1``; output j is covered by every i with ``i·s ≤ j ≤ i·s + k − 1``.

    Args:
        n: input length; k: kernel size; s: stride.

    Returns:
        int64 array of length ``(n − 1)·s + k``.
    """
    counts = np.zeros((n - 1) * s + k, dtype=np.int64)
    for i in range(n):
        counts[i * s:i * s + k] += 1
    return counts


def _stage_probe(rng, filters, skip_channels):
    x = rng.normal(size=(2, 4, 4, filters)).astype("float32")
    fused = rng.normal(size=(2, 4, 4, filters)).astype("float32")
    skip = rng.normal(size=(2, 8, 8, skip_channels)).astype("float32")
    return Probe(f"call(x {x.shape}, fused {fused.shape}, skip {skip.shape})",
                 lambda layer, a, b, c: layer(a, b, c), (x, fused, skip), (0, 1, 2), ("x", "fused", "skip"))


def _cases():
    rng = np.random.default_rng(5)
    sizes = np.array([1, 2, 7, 16, 33])
    return [
        # Hand-checked: (7−1)·2 + 4 − 2 = 14 = 2·7 (Keras "same" for k=4, s=2); (16−1)·2 + 3 = 33.
        Exercise("deconv_output_size", deconv_output_size,
                 [(sizes, 4, 2, 1), (sizes, 3, 2, 0), (sizes, 5, 3, 2), (np.array([8]), 2, 2, 0)],
                 rtol=0.0, atol=0.0),
        # Hand-checked: (3, 3, 2) → [1 1 2 1 2 1 1]; (3, 4, 2) → [1 1 2 2 2 2 1 1].
        Exercise("overlap_count", overlap_count, [(3, 3, 2), (3, 4, 2), (5, 3, 1), (4, 5, 3), (6, 2, 3)],
                 rtol=0.0, atol=0.0),
        # A middle stage (two post-convolutions, ReLU, a final norm) and a last one (LeakyReLU, no norm).
        BuildExercise("DecoderStage", DecoderStage,
                      [BuildCase(lambda cls: cls(8, 4, res_blocks=1, post_convs=2), [_stage_probe(rng, 8, 6)]),
                       BuildCase(lambda cls: cls(4, 4, res_blocks=2, post_convs=1, final=True),
                                 [_stage_probe(rng, 4, 3)])],
                      atol=1e-4, rtol=1e-4, grad_atol=1e-3, grad_rtol=1e-3),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch05")
