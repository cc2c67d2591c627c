"""From booking to arrival: what a confirmed booking needs before the first morning (consent, intake, documents,
the clinician's clearance, a ride home, the balance), the staff's readiness board, staffing and rooms, and the
applicant's own data (export and erasure). Sits above booking: it reads bookings, never moves their state."""
