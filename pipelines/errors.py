"""A small exception hierarchy whose messages say what to do."""


class MeridianError(Exception):
    """Base of every error Meridian raises on purpose."""


class ConfigError(MeridianError):
    """The configuration is incomplete or inconsistent."""


class DataError(MeridianError):
    """Input data cannot be used as it is (format, time zone, bad rows)."""


class StoreError(MeridianError):
    """The store could not read or write."""


class SourceError(MeridianError):
    """A data provider failed or sent something we cannot use."""


class RateLimitError(SourceError):
    """A provider's rate limit or quota is exhausted."""


class ModelError(MeridianError):
    """A model cannot be trained, loaded or used as asked."""


class ClusterError(MeridianError):
    """Ray could not run the work: a task failed unexpectedly, an actor died, or no answer came."""
