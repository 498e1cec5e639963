"""Tests of target-planhat against the Planhat emulator over real HTTP."""
