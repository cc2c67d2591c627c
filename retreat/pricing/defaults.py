"""The default price list (version 1), as domain/pricing.md sets it. The seed loads it; staff edit it later."""

DEFAULT_PRICE_LIST = {
    "note": "Default prices (domain/pricing.md)",
    "deposit_percent": 20,
    "deposit_minimum_cents": 500_00,
    "balance_due_days_before_start": 14,
    "band_min_cents": 3_000_00,
    "band_max_cents": 10_000_00,
    "items": [
        ("intake", "Medical and psychiatric intake assessment", "booking", 300_00, True, "90792"),
        ("dosing_iv", "IV ketamine infusion, 0.5 mg/kg over 40 min, with vital-sign monitoring", "session",
         600_00, True, "96365"),
        ("dosing_im", "Intramuscular ketamine session with monitoring", "session", 550_00, True, "96372"),
        ("dosing_sublingual", "Sublingual ketamine lozenge session, in clinic", "session", 400_00, True, ""),
        ("dosing_esketamine", "Esketamine (Spravato) nasal spray session with 2-hour observation", "session",
         900_00, True, "G2082/G2083"),
        ("integration_emdr", "EMDR integration psychotherapy, 60–90 min", "session", 200_00, True, "90837"),
        ("integration_art", "ART integration psychotherapy, 60–90 min", "session", 200_00, True, "90837"),
        ("integration_ifs", "IFS integration psychotherapy, 60–90 min", "session", 200_00, True, "90837"),
        ("intensive_emdr", "Half-day EMDR therapy intensive", "half day", 750_00, True, ""),
        ("intensive_art", "Half-day ART therapy intensive", "half day", 750_00, True, ""),
        ("intensive_ifs", "Half-day IFS therapy intensive", "half day", 750_00, True, ""),
        ("lodging_shared", "Lodging, shared room", "night", 120_00, False, ""),
        ("lodging_private", "Lodging, private room", "night", 190_00, False, ""),
    ],
}
