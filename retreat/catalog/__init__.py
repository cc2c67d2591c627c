"""Programs, their dated cohorts, and availability (seats left)."""
