"""Issues raised while normalising a record: errors reject the row, warnings flag it.

Reasons never contain the value that caused them (no personal data in logs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in one column of one record."""

    column: str
    reason: str
    severity: Severity


class NormalisationError(ValueError):
    """A value cannot be normalised.

    ``severity`` is ``"error"`` (the row is rejected) unless the rule says the value is
    merely doubtful (``"warning"``: the field is left empty and the row is kept).
    """

    def __init__(self, column: str, reason: str, severity: Severity = "error") -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason
        self.severity: Severity = severity

    def to_issue(self) -> Issue:
        return Issue(self.column, self.reason, self.severity)
