"""UNSIR itself: the noise, impair and repair, the repair check, presets, the auto recipe, one request."""
