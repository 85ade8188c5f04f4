"""`/news` as a Discord application command group, built from the command core's table.

Each subcommand of the table becomes a Discord subcommand with typed options (text,
integer ranges, choices, watchlist autocomplete). Subcommands named in two words that
share the first (`feeds`, `feeds add`, `feeds remove`) become one Discord subcommand
whose `action` option picks the second word: Discord cannot have `/news feeds` both
run and hold subcommands. It defers at once (Discord's 3-second
deadline), asks the core, and answers through followups rendered like any other
message. A channel admin's admin subcommand is deferred in public, everything else
privately; a public defer whose answer turns out private (a refusal, a bad argument) is
deleted before the private answer.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
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
        families: dict[str, list[CommandSpec]] = {}
        for spec in core.table:
            families.setdefault(spec.name.split(" ", 1)[0], []).append(spec)
        for name, specs in families.items():
            if [s.name for s in specs] == [name]:
                self.add_command(self._command(specs[0]))
            else:
                self.add_command(self._action_command(name, specs))

    def _command(self, spec: CommandSpec) -> app_commands.Command[Any, ..., None]:
        """The Discord subcommand for `spec`: a callback whose signature carries each
        argument's type, so that discord.py derives the options from it."""

        async def callback(interaction: Interaction, **values: ArgValue) -> None:
            await self.answer(interaction, spec, values)

        return self._discord_command(spec.name, spec.description, list(spec.args), callback)

    def _action_command(
        self, name: str, specs: list[CommandSpec]
    ) -> app_commands.Command[Any, ..., None]:
        """One Discord subcommand for the table's `name` and `name <action>` rows: an
        `action` choice (required when there is no plain `name` row), then every
        action's arguments, each optional (the core says which one an action needs)."""
        plain = next((s for s in specs if s.name == name), None)
        actions = {s.name.split(" ", 1)[1]: s for s in specs if s is not plain}
        said = "; ".join(f"{word}: {s.description}" for word, s in actions.items())
        action = Arg(
            "action", ArgKind.CHOICE, said if len(said) <= 100 else said[:99] + "…",
            required=plain is None, choices=tuple(actions),
        )  # fmt: skip
        args = {action.name: action}
        for spec in actions.values():
            for arg in spec.args:
                args.setdefault(arg.name, replace(arg, required=False, default=None))

        async def callback(interaction: Interaction, **values: ArgValue) -> None:
            chosen = values.pop(action.name, None)
            spec = plain if chosen is None else actions[str(chosen)]
            assert spec is not None  # `action` is required without a plain row
            given: dict[str, ArgValue] = {k: v for k, v in values.items() if v is not None}
            await self.answer(interaction, spec, given)

        return self._discord_command(
            name, (plain or specs[0]).description, list(args.values()), callback
        )

    def _discord_command(
        self,
        name: str,
        description: str,
        args: list[Arg],
        callback: Any,
    ) -> app_commands.Command[Any, ..., None]:
        """A Discord subcommand running `callback(interaction, **values)`, its options
        derived from `args` (the callback's signature is given their types)."""
        parameters = [
            inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(_parameter(arg) for arg in args),
        ]
        callback.__signature__ = inspect.Signature(parameters)
        callback.__discord_app_commands_param_description__ = {
            arg.name: arg.description for arg in args
        }
        callback.__discord_app_commands_param_autocomplete__ = {
            arg.name: self.watchlist_choices for arg in args if arg.kind is ArgKind.WATCHLIST
        }
        return app_commands.Command(
            name=name, description=description, callback=callback, parent=self
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
