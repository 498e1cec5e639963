"""Singer target for Planhat."""
