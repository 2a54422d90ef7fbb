"""A click group whose commands are imported only when they run.

`tinyfleet device list` must not pay for importing TensorFlow, so every command is named in a
table as ``"package.module:attribute"`` with its one-line help, and imported on use.
"""

from __future__ import annotations

import importlib
from typing import Any, Union

import click

__all__ = ["CommandTable", "LazyGroup"]

# name -> (target, help); target is "module:attr" for a click command, or a nested table.
CommandTable = dict[str, tuple[Union[str, "CommandTable"], str]]


class LazyGroup(click.Group):
    def __init__(self, *args: Any, table: CommandTable | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._table: CommandTable = dict(table or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._table))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None or cmd_name not in self._table:
            return cmd
        target, help_text = self._table[cmd_name]
        if isinstance(target, dict):
            return LazyGroup(name=cmd_name, table=target, help=help_text, short_help=help_text)
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        loaded = getattr(module, attr)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"{target} is not a click command")
        return loaded

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help from the table, so `tinyfleet --help` imports nothing heavy.
        rows = []
        for name in self.list_commands(ctx):
            if name in self._table:
                rows.append((name, self._table[name][1]))
            else:
                cmd = super().get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit=80)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
