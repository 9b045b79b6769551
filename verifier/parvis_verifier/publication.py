"""What an election publishes after its close: its individual ballots, or only totals.

Pure core, and the one place that decides it (voting-protocol.md, "Fairness"; the minimum
anonymity set of the manifest). Individual ballots become readable — the board unsealed at
the close, entries revealed in the export, ``"publication": "individual"`` in the results
entry — only when at least ``min_anonymity_set`` ballots were counted: below that, a ballot
could be told apart by elimination, so the board stays sealed and only totals are
published (``"aggregate"``). The close, the tally, the export and the verifier all ask
:func:`decide_publication`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["AGGREGATE", "INDIVIDUAL", "Publication", "decide_publication"]

INDIVIDUAL: Final = "individual"
AGGREGATE: Final = "aggregate"


@dataclass(frozen=True, slots=True)
class Publication:
    """The decision: ``individual`` ballots are published, or only the totals."""

    individual: bool

    @property
    def label(self) -> Literal["individual", "aggregate"]:
        """The results entry's ``publication`` member (docs/board-format.md)."""
        return INDIVIDUAL if self.individual else AGGREGATE


def decide_publication(*, counted: int, min_anonymity_set: int) -> Publication:
    """Individual ballots are published when ``counted`` reaches ``min_anonymity_set``."""
    if counted < 0 or min_anonymity_set < 1:
        raise ValueError("counted is at least 0 and the anonymity set at least 1")
    return Publication(individual=counted >= min_anonymity_set)
