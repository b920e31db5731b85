"""Field validators shared by the request models of every service."""

from typing import Any

from pydantic_core import PydanticCustomError


def unicode(value: Any) -> Any:
    """JSON can carry lone surrogates (\\ud800) and NUL (\\u0000), which PostgreSQL refuses
    in text and which no client means: both are refused here, before any store sees them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PydanticCustomError("unicode", "must be valid Unicode text") from exc
        if "\x00" in value:
            raise PydanticCustomError("nul", "must not contain the NUL character")
    return value


def text(value: Any) -> Any:
    """A string that is valid Unicode and not only whitespace."""
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return unicode(value)
