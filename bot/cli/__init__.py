"""The `promptbot` command line: one Typer app, one module per group of commands.

Heavy imports (torch, sentence-transformers, discord.py) happen inside commands, so
`promptbot --help` answers instantly.
"""

from __future__ import annotations

import typer

from bot.cli import (
    common,
    data_commands,
    model_commands,
    operator_commands,
    retrieval_commands,
    run_commands,
    simulation_commands,
    training_commands,
)

app = typer.Typer(
    name="promptbot",
    cls=common.PromptbotGroup,
    help="Creative-writing prompts by meaning, for Discord, that learn from reactions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

data_commands.register(app)
retrieval_commands.register(app)
training_commands.register(app)
model_commands.register(app)
simulation_commands.register(app)
run_commands.register(app)
operator_commands.register(app)
