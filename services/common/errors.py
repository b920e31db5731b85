"""Domain errors shared by every service: raised in the core, translated once per app."""

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class PreconditionFailed(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Unauthorized(DomainError):
    pass


class BadRequest(DomainError):
    pass


class ValidationFailed(DomainError):
    def __init__(self, errors: list[FieldError], detail: str = "The request is not valid.") -> None:
        super().__init__(detail)
        self.errors = errors


class DependencyUnavailable(DomainError):
    """A data store or service we depend on did not answer; the client may retry later."""

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Throttled(DependencyUnavailable):
    pass
