"""The one exception type of bad settings."""


class ConfigError(ValueError):
    """A hyperparameter, flag or file with a bad name, type, value or combination; the message names the key (and the
    file or flag it came from), the value and what is allowed. Library code raises it; only CLI mains exit."""
