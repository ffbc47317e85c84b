"""Every claim of the report, registered: importing the claims package runs each claim's
`register_claim`, and this module, above both the claims and the registry, is where that happens.

The registry (report.registry) holds claims but imports none, so no claim module and the registry
import each other.
"""

from __future__ import annotations

import onebyone.report.claims  # noqa: F401  (registers every claim)
from onebyone.report.registry import CLAIMS, Claim


def claims_in_order() -> list[Claim]:
    """Every registered claim by number (C10 after C6 and C8, whose measurements its figure reuses)."""
    return sorted(CLAIMS.values(), key=lambda claim: claim.number)
