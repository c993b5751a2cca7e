"""A method's settings: a frozen dataclass whose fields carry help and range (`common.config.setting`), read as
`SettingField`s by the pages and the CLI, and built from text or a mapping by `make_settings` with clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any

from unsir_core.common.config import validate
from unsir_core.common.errors import ConfigError


@dataclass(frozen=True)
class SettingField:
    """One field of a method's settings, for forms and docs."""

    name: str  # attribute name
    kind: type  # int, float, bool or str (the non-None type of the field)
    default: Any  # the documented default
    optional: bool  # True when None is allowed ("take it from the preset")
    help: str  # the field's metadata["help"]: what it does (the UI adds the value that runs)
    choices: tuple[str, ...] = ()  # allowed values of a str field, when fixed
    lo: float | None = None  # valid range [lo, hi] of a number ((lo, hi] when low_open), from the metadata
    hi: float | None = None
    low_open: bool = False


_KINDS = {"int": int, "float": float, "bool": bool, "str": str}


def setting_fields(cls: type) -> list[SettingField]:
    """Describe every field of a settings dataclass (type, default, and the help in its metadata)."""
    out = []
    for f in fields(cls):
        hint = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        parts = [p.strip() for p in hint.split("|")]
        optional = "None" in parts
        kind = next((_KINDS[p] for p in parts if p in _KINDS), str)
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        choices = tuple(f.metadata.get("choices", ()))
        out.append(
            SettingField(
                f.name,
                kind,
                default,
                optional,
                f.metadata.get("help", ""),
                choices,
                f.metadata.get("min"),
                f.metadata.get("max"),
                f.metadata.get("low_open", False),
            )
        )
    return out


def make_settings(cls: type, overrides: Mapping[str, Any] | Any | None = None, method: str = "") -> Any:
    """`cls()` with `overrides` applied; strings are converted to the field's type; clear errors.

    `overrides` may be None, a mapping of field names to values, or an instance of `cls`. Every value is checked
    against the range in its field's metadata (`config.setting`) here, before a method runs.
    """
    if overrides is None:
        return cls()
    if isinstance(overrides, cls):
        validate(overrides, f"{method or cls.__name__}.")
        return overrides
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"Settings for {method or cls.__name__} must be a mapping of field names to values.")
    known = {f.name: f for f in setting_fields(cls)}
    changes = {}
    for key, value in overrides.items():
        spec = known.get(key)
        if spec is None:
            raise ConfigError(f"{method or cls.__name__} has no setting {key!r}. Its settings: {', '.join(known)}.")
        changes[key] = _coerce(spec, value, method or cls.__name__)
    settings = replace(cls(), **changes)
    validate(settings, f"{method or cls.__name__}.")
    return settings


def _coerce(spec: SettingField, value: Any, method: str) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        if spec.optional:
            return None
        raise ConfigError(f"{method}.{spec.name} needs a value ({spec.kind.__name__}).")
    try:
        if spec.kind is bool:
            if isinstance(value, str):
                if value.strip().lower() in ("1", "true", "yes", "on"):
                    return True
                if value.strip().lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if spec.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            out = int(value)
        elif spec.kind is float:
            out = float(value)
        else:
            out = str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{method}.{spec.name} must be a {spec.kind.__name__}, got {value!r}.") from None
    if spec.choices and out not in spec.choices:
        raise ConfigError(f"{method}.{spec.name} must be one of {', '.join(spec.choices)}, got {out!r}.")
    return out
