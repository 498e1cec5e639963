"""Singer tap for Planful: Structured Planning and Dynamic Planning."""
