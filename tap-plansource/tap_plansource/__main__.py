"""`python -m tap_plansource` runs the tap's CLI."""

from tap_plansource.tap import TapPlanSource

TapPlanSource.cli()
