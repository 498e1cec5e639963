"""Dagster definitions for the Meltano project."""
