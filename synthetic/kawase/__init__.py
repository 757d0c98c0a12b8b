"""A second, independent synthetic municipality (川瀬市) for evaluation.

Written separately from the generator at ``synthetic/`` top level: its own name and reading
frequency tables (:mod:`synthetic.kawase.tables`), its own error model
(:mod:`synthetic.kawase.typos`: typing errors at published rates, IME homophones), dated
life events against each body's extract date, apartment blocks, twins and foreign
residents (:mod:`synthetic.kawase.town`). Same export interface as
``synthetic.Municipality`` (``write_exports``, ``write_truth``, ``truth``, ``subgroups``,
``twin_pairs``), so ``benchmarks.accuracy --generator kawase`` runs on it.
"""

from synthetic.kawase.town import (
    BODY_SPECS,
    ERROR_LEVELS,
    REFERENCE_DATE,
    Child,
    KawaseTown,
    generate,
)

__all__ = ["BODY_SPECS", "ERROR_LEVELS", "REFERENCE_DATE", "Child", "KawaseTown", "generate"]
