"""`/news` as a Discord application command group, answered by the command core.

Every subcommand defers at once (Discord's 3-second deadline), runs the core, and
answers through followups rendered like any other message. Lookups answer only to the
caller. subscribe, unsubscribe and digest need Manage Channels in the channel (or the
configured admin role): to such a caller their answer is public; anyone else gets the
core's refusal, privately. A bad argument's reply is always private.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import discord
from discord import app_commands

from adapters.discord_render import render
from bot.chat.message import Message, Tone
from bot.service.commands import ADMIN_COMMANDS, MAX_DAYS, Caller, CommandError, Commands

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]
Run = Callable[[Caller], Message | Awaitable[Message]]
MAX_CHOICES = 25  # Discord's limit on autocomplete choices


class NewsGroup(app_commands.Group):
    """`/news <subcommand>`; `core` answers, `admin_role` (a role id) may also run the
    channel-admin subcommands besides members with Manage Channels."""

    def __init__(self, core: Commands, admin_role: int | None = None) -> None:
        super().__init__(name="news", description="News the bot watches, and this channel's alerts")
        self.core = core
        self.admin_role = admin_role

    async def watchlist_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete for watchlist ids: those starting with what was typed, then
        those containing it."""
        ids = self.core.watchlist_choices(current)[:MAX_CHOICES]
        return [app_commands.Choice(name=i, value=i) for i in ids]

    @app_commands.command(name="search", description="Stored stories ranked by relevance")
    @app_commands.describe(
        query="words to look for in titles and summaries",
        watchlist="only stories this watchlist matched",
        days="how far back to look (1 to 90, default 7)",
    )
    @app_commands.autocomplete(watchlist=watchlist_choices)
    async def search(
        self,
        interaction: Interaction,
        query: app_commands.Range[str, 2, 200],
        watchlist: str | None = None,
        days: app_commands.Range[int, 1, MAX_DAYS] = 7,
    ) -> None:
        """`/news search`."""
        await self.answer(
            interaction, "search", lambda c: self.core.search(c, query, watchlist, days)
        )

    @app_commands.command(name="latest", description="The most recent matched stories")
    @app_commands.describe(watchlist="only this watchlist's stories")
    @app_commands.autocomplete(watchlist=watchlist_choices)
    async def latest(self, interaction: Interaction, watchlist: str | None = None) -> None:
        """`/news latest`."""
        await self.answer(interaction, "latest", lambda c: self.core.latest(c, watchlist))

    @app_commands.command(name="watchlists", description="The watchlists and what each covers")
    async def watchlists(self, interaction: Interaction) -> None:
        """`/news watchlists`."""
        await self.answer(interaction, "watchlists", self.core.list_watchlists)

    @app_commands.command(name="watchlist", description="One watchlist's rule and terms")
    @app_commands.describe(watchlist="the watchlist id")
    @app_commands.autocomplete(watchlist=watchlist_choices)
    async def watchlist(self, interaction: Interaction, watchlist: str) -> None:
        """`/news watchlist`."""
        await self.answer(
            interaction, "watchlist", lambda c: self.core.show_watchlist(c, watchlist)
        )

    @app_commands.command(name="why", description="Why a story matched a watchlist, or why not")
    @app_commands.describe(url="the story's link")
    async def why(self, interaction: Interaction, url: str) -> None:
        """`/news why`."""
        await self.answer(interaction, "why", lambda c: self.core.why(c, url))

    @app_commands.command(name="test", description="Which watchlists a piece of text would match")
    @app_commands.describe(text="a headline or a paragraph")
    async def test(self, interaction: Interaction, text: str) -> None:
        """`/news test`."""
        await self.answer(interaction, "test", lambda c: self.core.test(c, text))

    @app_commands.command(name="subscribe", description="Post a watchlist's alerts or digest here")
    @app_commands.describe(
        watchlist="the watchlist id",
        mode="alerts as they happen, or a scheduled digest",
        schedule='the digest\'s cron schedule, e.g. "0 8 * * mon-fri" (default 08:00 daily)',
        timezone="the schedule's time zone, e.g. America/Toronto (default UTC)",
    )
    @app_commands.autocomplete(watchlist=watchlist_choices)
    async def subscribe(
        self,
        interaction: Interaction,
        watchlist: str,
        mode: Literal["alert", "digest"] = "alert",
        schedule: str | None = None,
        timezone: str = "UTC",
    ) -> None:
        """`/news subscribe` (channel admins)."""
        await self.answer(
            interaction,
            "subscribe",
            lambda c: self.core.subscribe(c, watchlist, mode, schedule, timezone),
        )

    @app_commands.command(name="unsubscribe", description="Stop a watchlist's posts here")
    @app_commands.describe(watchlist="the watchlist id")
    @app_commands.autocomplete(watchlist=watchlist_choices)
    async def unsubscribe(self, interaction: Interaction, watchlist: str) -> None:
        """`/news unsubscribe` (channel admins)."""
        await self.answer(interaction, "unsubscribe", lambda c: self.core.unsubscribe(c, watchlist))

    @app_commands.command(name="subscriptions", description="This channel's subscriptions")
    async def subscriptions(self, interaction: Interaction) -> None:
        """`/news subscriptions`."""
        await self.answer(interaction, "subscriptions", self.core.subscriptions)

    @app_commands.command(name="digest", description="Post this channel's digest now")
    @app_commands.describe(watchlist="only this watchlist's digest")
    @app_commands.autocomplete(watchlist=watchlist_choices)
    async def digest(self, interaction: Interaction, watchlist: str | None = None) -> None:
        """`/news digest` (channel admins)."""
        await self.answer(interaction, "digest", lambda c: self.core.digest(c, watchlist))

    @app_commands.command(name="feeds", description="Feed health, failing feeds first")
    async def feeds(self, interaction: Interaction) -> None:
        """`/news feeds`."""
        await self.answer(interaction, "feeds", self.core.feeds)

    @app_commands.command(name="help", description="The subcommands and their arguments")
    async def help(self, interaction: Interaction) -> None:
        """`/news help`."""
        await self.answer(interaction, "help", self.core.help)

    async def answer(self, interaction: Interaction, name: str, run: Run) -> None:
        """Defer, run `run` for the caller, and send its Message as followups: public for a
        channel admin's admin subcommand, private otherwise. A CommandError (or a bug)
        is answered privately, the public "thinking…" message deleted first."""
        admin = name in ADMIN_COMMANDS and self.is_admin(interaction)
        caller = Caller(f"discord:{interaction.channel_id}", str(interaction.user.id), admin)
        await interaction.response.defer(ephemeral=not admin, thinking=True)
        failed = True
        try:
            result = run(caller)
            message = await result if inspect.isawaitable(result) else result
            failed = False
        except CommandError as exc:
            message = Message("wirewatch", Tone.WARNING, str(exc))
        except Exception:
            log.exception("/news %s failed", name)
            message = Message("wirewatch", Tone.ERROR, "Internal error; the bot logged it.")
        if failed and admin:
            await interaction.delete_original_response()
        for part in render(message):
            await interaction.followup.send(
                embeds=[discord.Embed.from_dict(e) for e in part.embeds],
                ephemeral=failed or not admin,
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
