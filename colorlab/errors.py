"""Typed errors. Every error colorlab raises on bad input derives from ColorlabError."""


class ColorlabError(Exception):
    """Base class of every error colorlab raises on purpose."""


class ImageLoadError(ColorlabError):
    """A file could not be read as an image; the message names the file and the problem."""


class ConfigError(ColorlabError, ValueError):
    """An invalid configuration or argument value (unknown config name, bad shape, ...)."""


class OutputExistsError(ColorlabError, FileExistsError):
    """An output file exists already and overwriting was not asked for."""


class DatasetError(ColorlabError):
    """A dataset folder, list file or TFDS dataset is missing or malformed; the message names the file (and
    line) and says what to do."""


class CheckpointError(ColorlabError):
    """A checkpoint (or a run's exported generator) is missing, damaged, cannot be written (a full disk) or does not
    fit this trainer (other config); the message names it."""


class VideoError(ColorlabError):
    """A video file cannot be read or written (missing, truncated, no video stream, no frames, unsupported codec or
    container); the message names the file and the problem."""


class BusyError(ColorlabError):
    """A folder is in use by another colorlab process (a training run, a video job); the message names the holder."""


class BudgetError(ColorlabError, ValueError):
    """An image, reference or video frame whose work exceeds the work budget (:class:`colorlab.inference.WorkBudget`:
    pixels, aspect ratio, matching cost); the message names the input, its shape and the limit."""


class ExerciseError(ColorlabError, AssertionError):
    """A notebook exercise's answer is wrong: the message names the case that fails (:mod:`colorlab.exercises`)."""


class CourseError(ColorlabError):
    """A notebook the instructor kit cannot use (unreadable, unbalanced solution markers) or cannot find."""
