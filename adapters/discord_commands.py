"""`/news` as a Discord application command group, built from the command core's table.

Each subcommand of the table becomes a Discord subcommand with typed options (text,
integer ranges, choices, watchlist autocomplete). It defers at once (Discord's 3-second
deadline), asks the core, and answers through followups rendered like any other
message. A channel admin's admin subcommand is deferred in public, everything else
privately; a public defer whose answer turns out private (a refusal, a bad argument) is
deleted before the private answer.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import discord
from discord import app_commands

from adapters.discord_render import render
from bot.chat.commands import Arg, ArgKind, ArgValue, Caller, CommandCore, CommandSpec

Interaction = discord.Interaction[discord.Client]
MAX_CHOICES = 25  # Discord's limit on autocomplete choices


class NewsGroup(app_commands.Group):
    """`/news <subcommand>`; `core` answers, `admin_role` (a role id) may also run the
    channel-admin subcommands besides members with Manage Channels."""

    def __init__(self, core: CommandCore, admin_role: int | None = None) -> None:
        super().__init__(name="news", description="News the bot watches, and this channel's alerts")
        self.core = core
        self.admin_role = admin_role
        for spec in core.table:
            self.add_command(self._command(spec))

    def _command(self, spec: CommandSpec) -> app_commands.Command[Any, ..., None]:
        """The Discord subcommand for `spec`: a callback whose signature carries each
        argument's type, so that discord.py derives the options from it."""

        async def callback(interaction: Interaction, **values: ArgValue) -> None:
            await self.answer(interaction, spec, values)

        parameters = [
            inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(_parameter(arg) for arg in spec.args),
        ]
        callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        descriptions = {arg.name: arg.description for arg in spec.args}
        callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
        callback.__discord_app_commands_param_autocomplete__ = {  # type: ignore[attr-defined]
            arg.name: self.watchlist_choices for arg in spec.args if arg.kind is ArgKind.WATCHLIST
        }
        return app_commands.Command(
            name=spec.name, description=spec.description, callback=callback, parent=self
        )

    async def watchlist_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete for watchlist ids: those starting with what was typed, then
        those containing it."""
        ids = self.core.watchlist_choices(current)[:MAX_CHOICES]
        return [app_commands.Choice(name=i, value=i) for i in ids]

    async def answer(
        self, interaction: Interaction, spec: CommandSpec, values: dict[str, ArgValue]
    ) -> None:
        """Defer (in public for a channel admin's admin subcommand), ask the core, and send
        its reply as followups, in public only when the core says so."""
        admin = spec.admin and self.is_admin(interaction)

        async def is_admin() -> bool:
            return admin

        caller = Caller(f"discord:{interaction.channel_id}", str(interaction.user.id), is_admin)
        await interaction.response.defer(ephemeral=not admin, thinking=True)
        reply = await self.core.answer(spec.name, caller, values)
        if admin and not reply.public:
            await interaction.delete_original_response()
        for part in render(reply.message):
            await interaction.followup.send(
                embeds=[discord.Embed.from_dict(e) for e in part.embeds],
                ephemeral=not reply.public,
                allowed_mentions=discord.AllowedMentions.none(),
            )

    def is_admin(self, interaction: Interaction) -> bool:
        """Manage Channels in this channel (Discord computes it with the overwrites), or
        the configured admin role."""
        if interaction.permissions.manage_channels:
            return True
        user = interaction.user
        return (
            self.admin_role is not None
            and isinstance(user, discord.Member)
            and user.get_role(self.admin_role) is not None
        )


def _parameter(arg: Arg) -> inspect.Parameter:
    """`arg` as a keyword parameter whose annotation is the Discord option type (an
    optional one has a default, which is what makes it optional to discord.py)."""
    annotation: Any
    if arg.kind is ArgKind.INT:
        annotation = app_commands.Range[int, arg.minimum, arg.maximum]
    elif arg.kind is ArgKind.CHOICE:
        annotation = Literal[arg.choices]  # each choice a value of the Literal
    elif arg.minimum is not None or arg.maximum is not None:
        annotation = app_commands.Range[str, arg.minimum, arg.maximum]
    else:
        annotation = str
    default = inspect.Parameter.empty if arg.required else arg.default
    return inspect.Parameter(
        arg.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )
