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


# The same rules as JSON Schema patterns (ECMA-262 syntax, which pydantic's regex engine also
# reads), so the OpenAPI document states them: no NUL anywhere, and for `text` at least one
# character that is not white space by either Python's or ECMA-262's definition.
_SPACE = r"\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
UNICODE_PATTERN = r"^[^\x00]*$"
TEXT_PATTERN = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"
