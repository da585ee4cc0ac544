"""Exceptions raised by finfusion. Every message names where the problem is and what was expected."""


class FinfusionError(Exception):
    """Base class of all finfusion errors."""


class DataError(FinfusionError, ValueError):
    """Input data is malformed: the message names the file, row or column, the value and what was expected."""


class ConfigError(FinfusionError, ValueError):
    """A configuration is invalid: the message names the key path, the value and the allowed values."""


class ProtocolError(ConfigError):
    """The evaluation protocol cannot be built on these samples (too few dates for the window, no
    training data before a fold): the settings are valid, the data are too short for them. A
    subclass of ConfigError, so code catching ConfigError still catches it; the CLI exits with 4."""


class NotFittedError(FinfusionError, RuntimeError):
    """A model was used before `fit`."""
