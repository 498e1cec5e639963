"""`python -m target_planhat`."""

from target_planhat.target import TargetPlanhat

TargetPlanhat.cli()
