"""Field validators shared by the request models of every service."""

from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

# A request model's validator is built when a request first needs it: a cold start serves one
# route and builds that route's models alone, where building every route's at import cost a few
# ms. Bodies refuse unknown fields; query strings and headers carry others that are not ours.
BODY = ConfigDict(extra="forbid", defer_build=True)
PARAMETERS = ConfigDict(extra="ignore", defer_build=True)

# Past this no count is meant, and int() of Decimal("1e999999999") would take a long time.
_LARGEST_WHOLE = Decimal(10) ** 18


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


def whole_number(value: Any) -> Any:
    """JSON has one number type: 2.0 (or 2e0) is the integer 2, as JSON Schema's `integer` says.

    The body parser reads it as a Decimal; a whole one becomes an int, anything else is left
    for the strict integer check to refuse."""
    whole = isinstance(value, Decimal) and value.is_finite() and abs(value) <= _LARGEST_WHOLE
    return int(value) if whole and value == value.to_integral_value() else value


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
# Tokens, codes and keys a client copies as given: printable ASCII, no space. Written as a range,
# not `\S`: validators read `\S` over ASCII (schemathesis) or Unicode (pydantic) and disagree.
OPAQUE_PATTERN = r"^[\x21-\x7e]+$"
TEXT_PATTERN = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"


def text_of(max_length: int) -> StringConstraints:
    """1 to `max_length` characters, stated as the `text` validator reads them (TEXT_PATTERN), so
    the document calls valid exactly what the server accepts. Goes with BeforeValidator(text)."""
    return StringConstraints(min_length=1, max_length=max_length, pattern=TEXT_PATTERN)
