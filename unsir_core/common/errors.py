"""User-facing errors: each says what was wrong and what to do. The CLI and the pages show them as is."""


class UnsirError(Exception):
    """Base class of every error the user can fix; anything else is a bug."""


class ConfigError(UnsirError, ValueError):
    """A setting or a class selection that cannot work (empty forget set, unknown class, ...)."""


class DataError(UnsirError):
    """A data set that is missing, offline, corrupted or of an unexpected format."""


class CheckpointError(UnsirError):
    """A checkpoint that cannot be read, is unsafe, or does not fit the chosen model."""


class DivergedError(UnsirError):
    """The loss became NaN or inf; the original model is kept."""

    def __init__(self, phase: str, step: int, hint: str):
        self.phase, self.step = phase, step
        super().__init__(f"The {phase} loss became NaN or inf at step {step}; the original model was kept. {hint}")


class Cancelled(UnsirError):
    """The caller asked to stop; nothing was committed."""
