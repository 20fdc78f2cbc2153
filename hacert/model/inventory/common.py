"""What every inventory section shares: strict frozen models, checked names, ports and durations,
and secrets that are named (an environment variable or a file), never written."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    model_validator,
)


def _port_range(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"must be 1-65535 (got {value})")
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be greater than 0 (got {value})")
    return value


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError(f"must not be negative (got {value})")
    return value


def _name(value: str) -> str:
    if not value or any(c.isspace() for c in value) or "/" in value:
        raise ValueError(f"must be a non-empty name without spaces or '/' (got {value!r})")
    return value


Port = Annotated[int, AfterValidator(_port_range)]
Seconds = Annotated[float, AfterValidator(_positive)]
NonNegative = Annotated[float, AfterValidator(_not_negative)]
Name = Annotated[str, AfterValidator(_name)]

_SECRET_LITERALS = ("password", "passwd", "community", "write_community", "secret")


class Strict(BaseModel):
    """Every inventory section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in _SECRET_LITERALS:
                if key in data and f"{key}_env" in cls.model_fields:
                    raise ValueError(
                        f"'{key}' holds a secret as a value; name where it lives instead: "
                        f"'{key}_env: VARIABLE' or '{key}_file: PATH'"
                    )
        return data


class SecretSource(Strict):
    """Mixin check: a secret comes from at most one place."""

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> "SecretSource":
        for field in type(self).model_fields:
            if field.endswith("_env"):
                base = field[: -len("_env")]
                if getattr(self, field, None) and getattr(self, f"{base}_file", None):
                    raise ValueError(f"give either {base}_env or {base}_file, not both")
        return self


def key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
