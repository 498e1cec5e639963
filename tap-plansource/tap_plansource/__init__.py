"""Singer tap for the PlanSource Admin API v2."""
