"""The CIE / sRGB constants shared by :mod:`colorlab.color` (Keras, differentiable) and :mod:`colorlab.metrics`
(float64 NumPy). NumPy only, so either side can import it without the other's dependencies."""

import numpy as np

#: D65 reference white for the 2-degree observer, as in scikit-image (Y normalised to 1).
D65_WHITE = (0.95047, 1.0, 1.08883)

#: Linear sRGB -> XYZ (D65), row i gives X, Y, Z from (R, G, B); the matrix scikit-image uses.
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
#: XYZ -> linear sRGB, the exact inverse of :data:`XYZ_FROM_RGB`.
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)

EPSILON = 216.0 / 24389.0   # CIE: (6/29)^3, where f(t) switches from linear to cube root
KAPPA = 24389.0 / 27.0      # CIE: (29/3)^3, slope of L = kappa * Y/Yn near black
DELTA = 6.0 / 29.0          # f(EPSILON) = DELTA
SRGB_IN_KNEE = 0.04045      # sRGB encoded value where the transfer curve switches to the power law
SRGB_OUT_KNEE = 0.0031308   # the same knee in linear light (0.04045 / 12.92)
