"""One step of the applicant's checklist before arrival (retreat.arrival.checklist lists the providers)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    key: str                      # stable: "consent", "intake", "documents", "clearance", "balance", "ride_home"
    label: str                    # what the applicant reads ("Sign the informed consent")
    done: bool
    left: str = ""                # what is left, in words, when not done
    endpoint: str | None = None   # the manage-token page where the applicant does it now (None: nowhere now)
    clinic_does: bool = False     # the clinic's own step (the applicant waits for it)
    staff_label: str = ""         # its name for staff (the readiness board's column); the label when empty

    @property
    def column(self) -> str:
        return self.staff_label or self.label
