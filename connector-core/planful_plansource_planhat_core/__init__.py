"""What tap-planful, tap-plansource and target-planhat share, written once."""
