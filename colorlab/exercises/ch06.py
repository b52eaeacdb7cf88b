"""Exercises of chapter 06 (the patch discriminator), checked by :func:`check`.

In ``notebooks/06_patch_discriminator.ipynb`` the student writes each function and calls::

    from colorlab.exercises import ch06
    receptive_field = ch06.check("receptive_field", receptive_field)

Exercises (name: what the student writes):

* ``"receptive_field"``: ``receptive_field(kernel_sizes, strides) -> int`` — the side of the input window one
  output of a convolution stack sees, by the recursion ``r_l = r_{l−1} + (k_l − 1)·Π_{i<l} s_i``, ``r_0 = 1``.
* ``"output_size"``: ``output_size(n, kernel_sizes, strides, padding) -> int`` — the side of the output map
  after the stack, every layer padded by ``padding`` on each side: ``n ← ⌊(n + 2p − k)/s⌋ + 1`` per layer.

Build it, in Keras (a class, checked by values and gradients against the package's):

* ``"PatchDiscriminator"``: a subclass of :class:`colorlab.models.PatchDiscriminator` whose ``layer_stack()`` the
  student writes for the spectral-norm discriminator: per convolution a ``ZeroPadding2D``, a
  :class:`~colorlab.models.SpectralConv2D` (4 x 4, strides ``2, ..., 2, 1, 1``, widths ``width * min(2^i, 8)``
  and 1 for the logits) and a ``LeakyReLU(0.2)`` after every convolution but the last. The notebook then measures
  the receptive field on it.

The reference solutions of the function exercises are plain Python; ``tests/test_course_ch05_ch06.py`` checks them
against :func:`colorlab.models.discriminator.receptive_field`, :meth:`PatchDiscriminator.output_size` and the
pix2pix numbers (70 × 70 windows, 30 × 30 logits for a 256² input).
"""

import numpy as np

from colorlab.exercises import BuildCase, BuildExercise, Exercise, Probe, make_checker
from colorlab.models.discriminator import PatchDiscriminator

__all__ = ["receptive_field", "output_size", "EXERCISES", "check"]


def receptive_field(kernel_sizes, strides):
    """Receptive field side of a stack: ``r = 1``, then per layer ``r += (k − 1)·jump`` and ``jump *= s``.

    Args:
        kernel_sizes: k_1..k_L; strides: s_1..s_L.

    Returns:
        int.
    """
    field, jump = 1, 1
    for k, s in zip(kernel_sizes, strides):
        field += (k - 1) * jump
        jump *= s
    return field


def output_size(n, kernel_sizes, strides, padding):
    """Side of the output after the stack: per layer ``n = (n + 2·padding − k) // s + 1``.

    Args:
        n: input side; kernel_sizes, strides: per layer; padding: zero padding on each side of every layer.

    Returns:
        int (≤ 0 means the input was too small).
    """
    for k, s in zip(kernel_sizes, strides):
        n = (n + 2 * padding - k) // s + 1
    return n


_PIX2PIX = ([4] * 5, [2, 2, 2, 1, 1])


def _logits_probe(rng, shape):
    x = rng.normal(size=shape).astype("float32")
    return Probe(f"call(inputs {shape})", lambda layer, inputs: layer(inputs), (x,), (0,), ("inputs",))


def _cases():
    rng = np.random.default_rng(6)
    return [
        # Hand-checked: pix2pix's stack → 70; three 3x3 stride-1 convs → 1 + 2 + 2 + 2 = 7;
        # 3x3, 3x3, a 2x2 stride-2 pool, 3x3 → 1 + 2 + 2 + 1 + 2·2 = 10; 7/2, 3/2, 3/1 → 1 + 6 + 2·2 + 2·4 = 19.
        Exercise("receptive_field", receptive_field,
                 [_PIX2PIX, ([3, 3, 3], [1, 1, 1]), ([3, 3, 2, 3], [1, 1, 2, 1]), ([4, 4], [2, 2]),
                  ([7, 3, 3], [2, 2, 1])], rtol=0.0, atol=0.0),
        # Hand-checked: pix2pix at 256 → 128, 64, 32, 31, 30; at 128 → 14; at 32 → 2 (the tiny config);
        # 70 without padding → 34, 16, 7, 4, 1: one logit for exactly one 70 x 70 window.
        Exercise("output_size", output_size,
                 [(256, *_PIX2PIX, 1), (128, *_PIX2PIX, 1), (32, *_PIX2PIX, 1), (70, *_PIX2PIX, 0),
                  (100, [3, 3, 3], [2, 2, 2], 1)], rtol=0.0, atol=0.0),
        BuildExercise("PatchDiscriminator", PatchDiscriminator,
                      [BuildCase(lambda cls: cls(width=4, n_layers=2), [_logits_probe(rng, (2, 24, 24, 3))]),
                       BuildCase(lambda cls: cls(width=2, n_layers=3), [_logits_probe(rng, (1, 40, 32, 3))])],
                      atol=1e-4, rtol=1e-4, grad_atol=1e-3, grad_rtol=1e-3),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch06")
