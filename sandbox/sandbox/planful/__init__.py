"""Planful emulator: Structured Planning (Basic auth) and Dynamic Planning (`X-ACCESS-TOKEN`).

The server, its settings and seed options are described in `sandbox.planful.app`.
"""
