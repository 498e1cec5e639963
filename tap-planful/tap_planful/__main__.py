"""`python -m tap_planful`."""

from tap_planful.tap import TapPlanful

TapPlanful.cli()
