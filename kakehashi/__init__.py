"""Kakehashi (架け橋): privacy-preserving record linkage for Japanese municipalities.

This package is the composition root: the ``kakehashi`` command, the coordinator's
commands and the demo. The trust zones live in ``encoders`` (department), ``server``
(neutral operator) and ``linkage`` (shared computation).
"""

__version__ = "0.1.0"
