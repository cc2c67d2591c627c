"""Candidacy pre-screening: questions, versioned rules, outcomes and clinician review."""
