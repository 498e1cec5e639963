"""The Planhat emulator: main REST API and analytics paths on one loopback server."""
