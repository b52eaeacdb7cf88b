"""Gray2ColorNet in Keras 3 (``keras.layers`` / ``keras.ops`` only: runs on TensorFlow and on JAX).

Lu, Yu, Peng, Zhao, Wang, "Gray2ColorNet: Transfer More Colors from Reference Image", ACM MM 2020.

========================  =======================================================================
module                    what it holds
========================  =======================================================================
``config``                :class:`Gray2ColorConfig`, :func:`get_config` (``tiny``, ``course``, ``paper``),
                          :meth:`Gray2ColorConfig.official`
``encoder``               the shared learned encoder and the reference's colour encoder (chapter 03)
``correspondence``        multi-scale matching features, cosine correlation, softmax, warping (chapter 03)
``gcfn``                  histogram branch, the gate, gated colour fusion (chapter 04)
``mcn``                   the multi-scale decoder and the classification head (chapter 05)
``gray2colornet``         the assembled model, :func:`build_gray2colornet`, :func:`explain`, :func:`count_params`
``discriminator``         the patch discriminator (chapter 06)
``weights``               a generator on disk: :func:`save_generator`, :func:`load_generator`, :data:`DEMO_WEIGHTS`
``official``              the authors' PyTorch checkpoint, read without PyTorch: :func:`load_official_weights`
========================  =======================================================================

Importing this package imports Keras (and its backend), nothing else heavy.
"""

from colorlab.models.config import CONFIG_NAMES, DEFAULT_LOSS_WEIGHTS, Gray2ColorConfig, get_config
from colorlab.models.correspondence import Correspondence, MatchingFeatures, attention_entropy, l2_normalize
from colorlab.models.discriminator import PatchDiscriminator, SpectralConv2D
from colorlab.models.encoder import (ENCODER_LEVELS, ENCODER_STRIDES, ConvBlock, Encoder, InstanceNormalization,
                                     ReferenceColorEncoder)
from colorlab.models.gcfn import (GCFN, FullColumnGate, GatedFusion, HistogramEncoder, StatsGate,
                                  WarpedColorPyramid, triangular_ab_histogram)
from colorlab.models.gray2colornet import (PIECES, Gray2ColorNet, attention_map, build_gray2colornet, count_params,
                                           explain, pad_to_multiple)
from colorlab.models.mcn import MCN, ClassificationHead, DecoderStage, ResBlock
from colorlab.models.official import (OFFICIAL_CHECKPOINT, convert_official_checkpoint, convert_state_dict,
                                      load_official_weights, official_weight_map, read_torch_state_dict)
from colorlab.models.weights import (ADAPTATION_KEYS, DEMO_WEIGHTS, WEIGHTS_SUFFIX, clear_generator_cache,
                                     config_path_for, generator_adaptation,
                                     generator_config, load_generator, read_config, save_generator)

__all__ = [
    "CONFIG_NAMES", "DEFAULT_LOSS_WEIGHTS", "Gray2ColorConfig", "get_config",
    "ENCODER_LEVELS", "ENCODER_STRIDES", "InstanceNormalization", "ConvBlock", "Encoder", "ReferenceColorEncoder",
    "MatchingFeatures", "Correspondence", "l2_normalize", "attention_entropy",
    "HistogramEncoder", "StatsGate", "FullColumnGate", "WarpedColorPyramid", "GatedFusion", "GCFN",
    "triangular_ab_histogram",
    "ResBlock", "DecoderStage", "MCN", "ClassificationHead",
    "Gray2ColorNet", "PIECES", "build_gray2colornet", "explain", "attention_map", "count_params", "pad_to_multiple",
    "PatchDiscriminator", "SpectralConv2D",
    "DEMO_WEIGHTS", "WEIGHTS_SUFFIX", "config_path_for", "read_config", "save_generator", "load_generator",
    "generator_config", "generator_adaptation", "ADAPTATION_KEYS", "clear_generator_cache",
    "OFFICIAL_CHECKPOINT", "read_torch_state_dict", "official_weight_map", "convert_state_dict",
    "load_official_weights", "convert_official_checkpoint",
]
