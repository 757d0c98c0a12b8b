"""Exceptions raised by the shared linkage computation.

Every error carries a message that a server can show to a client as a 4xx response and
a CLI can print on one line: it says what is wrong, never which person it concerns.
"""

from __future__ import annotations


class LinkageError(ValueError):
    """Base class: invalid input to a linkage computation."""


class SchemaError(LinkageError):
    """The linkage schema is malformed or does not match."""


class EncodingsFormatError(LinkageError):
    """An encodings file is malformed, truncated or inconsistent."""
