"""What a valid program configuration is (domain/pricing.md), as data the validator reads."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    low: int
    high: int

    def __contains__(self, value: int) -> bool:
        return self.low <= value <= self.high


DURATION_DAYS = Bounds(7, 14)
DOSING_SESSIONS_BY_ROUTE = {
    "iv": Bounds(4, 6),
    "im": Bounds(4, 6),
    "sublingual": Bounds(4, 6),
    "esketamine": Bounds(2, 4),  # dosed twice a week
}
INTEGRATION_SESSIONS_MAX = 10  # and at least the number of dosing sessions
INTENSIVE_SESSIONS = Bounds(1, 2)
ROUTE_LABELS = {
    "iv": "IV ketamine",
    "im": "IM ketamine",
    "sublingual": "Sublingual ketamine",
    "esketamine": "Esketamine (Spravato)",
}
MODALITY_LABELS = {
    "emdr": "EMDR",
    "art": "ART",
    "ifs": "IFS",
}
MODALITY_NAMES = {
    "emdr": "Eye Movement Desensitization and Reprocessing",
    "art": "Accelerated Resolution Therapy",
    "ifs": "Internal Family Systems",
}
LODGING_LABELS = {
    "none": "No lodging (I'll arrange my own)",
    "shared": "Shared room",
    "private": "Private room",
}

KETAMINE_ROUTES = tuple(DOSING_SESSIONS_BY_ROUTE)
THERAPY_MODALITIES = tuple(MODALITY_LABELS)
LODGING_KINDS = tuple(LODGING_LABELS)
