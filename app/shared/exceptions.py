"""Exceptions shared by every layer; the presentation layer maps them to HTTP statuses once."""

from __future__ import annotations


class MlServiceError(Exception):
    """Base of every error this service raises on purpose."""


class NotFoundError(MlServiceError):
    """A requested entity does not exist (404)."""


class InvalidInput(MlServiceError):
    """Input that passed schema validation but breaks a domain rule (422)."""


class Conflict(InvalidInput):
    """Input that clashes with data already stored, such as a username another user has (409)."""


class StorageUnavailable(MlServiceError):
    """The database cannot be reached or failed; the operation may be retried (503)."""


class ModelUnavailable(MlServiceError):
    """No usable model: missing, corrupt or failing verification (503 where a model is required)."""


class ChecksumMismatch(ModelUnavailable):
    """An artifact's sha256 does not match the registry: it is refused before unpickling."""
