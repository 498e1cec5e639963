"""What both taps add to singer-sdk's `Tap`: flattening that keeps to the SCHEMA and a command
line that ends quietly when its reader goes (`tap | head`)."""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from typing_extensions import override

from connector_core import flattening, pipe

if t.TYPE_CHECKING:
    import click


class ConnectorTap(Tap):
    """Base class of our taps (see `flattening` and `pipe` for why each hook is there)."""

    @override
    def setup_mapper(self) -> None:
        super().setup_mapper()
        flattening.register_flattenable_schemas(self)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        pipe.guard_stdout()
        return super().get_singer_command()
