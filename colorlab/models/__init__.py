"""Gray2ColorNet in Keras 3 (``keras.layers`` / ``keras.ops`` only: runs on TensorFlow and on JAX).

Lu, Yu, Peng, Zhao, Wang, "Gray2ColorNet: Transfer More Colors from Reference Image", ACM MM 2020.

========================  =======================================================================
module                    what it holds
========================  =======================================================================
``config``                :class:`Gray2ColorConfig`, :func:`get_config` (``tiny``, ``course``, ``paper``)
``encoder``               the shared learned encoder and the reference's colour encoder (chapter 03)
``correspondence``        multi-scale matching features, cosine correlation, softmax, warping (chapter 03)
``gcfn``                  histogram branch, the gate, gated colour fusion (chapter 04)
``mcn``                   the multi-scale decoder and the classification head (chapter 05)
``gray2colornet``         the assembled model, :func:`build_gray2colornet`, :func:`explain`, :func:`count_params`
``discriminator``         the patch discriminator (chapter 06)
``weights``               a generator on disk: :func:`save_generator`, :func:`load_generator`, :data:`DEMO_WEIGHTS`
========================  =======================================================================

Importing this package imports Keras (and its backend), nothing else heavy.
"""

from colorlab.models.config import CONFIG_NAMES, DEFAULT_LOSS_WEIGHTS, Gray2ColorConfig, get_config
from colorlab.models.correspondence import Correspondence, MatchingFeatures, attention_entropy, l2_normalize
from colorlab.models.discriminator import PatchDiscriminator, SpectralConv2D
from colorlab.models.encoder import (ENCODER_LEVELS, ENCODER_STRIDES, ConvBlock, Encoder, InstanceNormalization,
                                     ReferenceColorEncoder)
from colorlab.models.gcfn import GCFN, FullColumnGate, HistogramEncoder, StatsGate, WarpedColorPyramid
from colorlab.models.gray2colornet import (Gray2ColorNet, attention_map, build_gray2colornet, count_params, explain,
                                           pad_to_multiple)
from colorlab.models.mcn import MCN, ClassificationHead, DecoderStage, ResBlock
from colorlab.models.weights import (DEMO_WEIGHTS, WEIGHTS_SUFFIX, clear_generator_cache, config_path_for,
                                     load_generator, read_config, save_generator)

__all__ = [
    "CONFIG_NAMES", "DEFAULT_LOSS_WEIGHTS", "Gray2ColorConfig", "get_config",
    "ENCODER_LEVELS", "ENCODER_STRIDES", "InstanceNormalization", "ConvBlock", "Encoder", "ReferenceColorEncoder",
    "MatchingFeatures", "Correspondence", "l2_normalize", "attention_entropy",
    "HistogramEncoder", "StatsGate", "FullColumnGate", "WarpedColorPyramid", "GCFN",
    "ResBlock", "DecoderStage", "MCN", "ClassificationHead",
    "Gray2ColorNet", "build_gray2colornet", "explain", "attention_map", "count_params", "pad_to_multiple",
    "PatchDiscriminator", "SpectralConv2D",
    "DEMO_WEIGHTS", "WEIGHTS_SUFFIX", "config_path_for", "read_config", "save_generator", "load_generator",
    "clear_generator_cache",
]
