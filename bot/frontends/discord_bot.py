"""The Discord front end: one thin module over the conversation API (the only one that imports discord).

Setup: `pip install 'recochat[discord]'`, a bot token in DISCORD_TOKEN (or RECOCHAT_DISCORD_TOKEN),
the Message Content intent switched on in the developer portal (see the README, "Discord bot").
Construct: `make_bot(conversations, guild_id=None, shard_ids=None, shard_count=None)` (a `RecoBot`,
or a `ShardedRecoBot` on the given shards); `run_discord(runtime, token, guild_id, ...)` runs it.
Talk: mention the bot in a channel (it opens a thread and answers there), keep talking in that
thread without mentioning it, or DM it; or use /recommend, /profile, /why, /reset, /forget.

Profiles are keyed by Discord user id (`discord:<id>`), never by channel. Every recommended item
is sent as its own compact message, so a 👍/👎 on that message names exactly one item; only the
reactions of the person it was recommended to count, and removing a reaction undoes it.

Several processes: `make_bot(..., shard_ids=[0, 1], shard_count=4)` runs some of the bot's shards
(`recochat discord --shard-ids 0,1 --shard-count 4`). Which message shows which item to whom is
kept in the profile store (`save_picks` / `picks`), not in the process, so with one PostgreSQL
database any process, or the same one after a restart, acts on a reaction to any card.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import weakref
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from recochat.profiles.contract import PickStorage, picks_kept_by

from ..conversation import Conversations, Reply, ReplyItem
from ..errors import NoSuchRank, RecochatError, SetupError
from ..runtime import Runtime
from .pacing import MESSAGE_LIMIT, LiveMessage, RateLimiter, Send, polite

log = logging.getLogger("recochat.discord")

LIKE, DISLIKE = "👍", "👎"
FEEDBACK: dict[str, Literal["like", "dislike"]] = {LIKE: "like", DISLIKE: "dislike"}
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    add_reactions=True,
    read_message_history=True,
)
SORRY = "Sorry, something went wrong on my side while answering. Please try again in a moment."
_SKIN_TONE = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")
_TOKEN_SHAPE = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+$")
"""Loose on purpose: it catches a pasted client secret or application id, never a real token."""
_PORTAL = "https://discord.com/developers/applications"


# -- configuration -----------------------------------------------------------------------------
def check_token(token: str | None) -> str:
    """A usable bot token, or a SetupError that says where to get one."""
    token = (token or "").strip()
    if token.lower().startswith("bot "):
        token = token[4:].strip()
    if not token:
        raise SetupError(
            "no Discord bot token: set DISCORD_TOKEN (or RECOCHAT_DISCORD_TOKEN) to the token from "
            f"{_PORTAL} → your application → Bot → Reset Token"
        )
    if not _TOKEN_SHAPE.match(token):
        raise SetupError(
            "DISCORD_TOKEN does not look like a bot token (three dot-separated parts); copy it from "
            f"{_PORTAL} → your application → Bot → Reset Token, not the client secret or application id"
        )
    return token


def check_shards(shard_ids: str | Sequence[int] | None, shard_count: int | None) -> tuple[list[int], int] | None:
    """The shards this process runs and the total, or None for all of them in one process.

    `shard_ids` is a list or the CLI's text ("0,1"); both or neither must be given, every id below
    the count. Anything else is a SetupError that says what to pass."""
    example = "e.g. --shard-ids 0,1 --shard-count 4 here and --shard-ids 2,3 --shard-count 4 in a second process"
    if shard_ids is None and shard_count is None:
        return None
    if shard_ids is None or (isinstance(shard_ids, str) and not shard_ids.strip()):
        raise SetupError(f"--shard-count needs --shard-ids, the shards this process runs ({example})")
    if shard_count is None:
        raise SetupError(f"--shard-ids needs --shard-count, the total number of shards over all processes ({example})")
    if shard_count < 1:
        raise SetupError(f"--shard-count must be 1 or more, got {shard_count}")
    if isinstance(shard_ids, str):
        parts = [part.strip() for part in shard_ids.split(",")]
        if not all(part.isdigit() for part in parts):
            raise SetupError(f"--shard-ids takes shard numbers separated by commas, like 0,1; got {shard_ids!r}")
        shard_ids = [int(part) for part in parts]
    ids = list(shard_ids)
    outside = [i for i in ids if not 0 <= i < shard_count]
    if outside:
        raise SetupError(
            f"shard id {outside[0]} is out of range for --shard-count {shard_count}: ids run from 0 to {shard_count - 1}"
        )
    if len(set(ids)) != len(ids):
        raise SetupError(f"--shard-ids lists a shard twice: {','.join(map(str, ids))}")
    return sorted(ids), shard_count


def bot_intents() -> discord.Intents:
    """Only what the bot uses: messages and reactions in servers and DMs, plus message content."""
    intents = discord.Intents.none()
    intents.guilds = True  # channels and threads, needed to resolve where a message came from
    intents.guild_messages = True
    intents.dm_messages = True
    intents.guild_reactions = True
    intents.dm_reactions = True
    intents.message_content = True  # privileged: follow-ups in the bot's threads carry no mention
    return intents


def profile_id(user: discord.abc.Snowflake) -> str:
    """The one profile key for a Discord user, whatever channel, thread or DM they write from."""
    return f"discord:{user.id}"


# -- item cards (pacing.py: rate limit, splitting, live edits) ----------------------------------
def item_embed(item: ReplyItem, owner: str) -> discord.Embed:
    """A compact card per item: the message people react to."""
    title = f"{item.rank}. {item.label}"
    embed = discord.Embed(title=title[:256])
    genres = ", ".join(item.genres[:4])
    embed.set_footer(text=" · ".join(filter(None, [genres, f"for {owner}: react {LIKE} or {DISLIKE}"]))[:2048])
    return embed


def reaction_value(emoji: discord.PartialEmoji | str) -> Literal["like", "dislike"] | None:
    """👍/👎 in any skin tone → like/dislike; anything else → None."""
    return FEEDBACK.get(_SKIN_TONE.sub("", str(emoji)))


@dataclass
class Pick:
    """One item message as the profile store keeps it: whose recommendation it is, the item, and
    the owner's 👍/👎 on it in the order recorded."""

    message_id: int
    user_id: str
    item_id: str
    held: list[str]

    @property
    def owner_id(self) -> int:
        """The Discord id of the person the card was made for (from `discord:<id>`)."""
        return int(self.user_id.rpartition(":")[2])


# -- the bot -----------------------------------------------------------------------------------
class RecoBot(commands.Bot):
    """discord.py client over `Conversations`; holds no recommendation logic of its own."""

    def __init__(
        self,
        conversations: Conversations,
        *,
        guild_id: int | None = None,
        threads: bool = True,
        rate_limit: RateLimiter | None = None,
        edit_interval_s: float = 1.0,
        seed_reactions: bool = True,
        intents: discord.Intents | None = None,
        announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
        setup_problem: str | None = None,
        **client_options: Any,
    ) -> None:
        if setup_problem:  # the bot's status says why replies have template prose
            client_options.setdefault("activity", discord.CustomActivity(name=f"LLM off: {setup_problem}"[:128]))
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents or bot_intents(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            **client_options,
        )
        self.setup_problem = setup_problem
        self.conversations = conversations
        self.guild_id = guild_id
        self.threads = threads
        self.rate_limit = rate_limit or RateLimiter()
        self.edit_interval_s = edit_interval_s
        self.seed_reactions = seed_reactions
        self.announce = announce
        self._announced = False
        self._card_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        """Per item message, held while a reaction event reads and changes its `held` across awaits:
        a quick 👍 then un-👍 arrive as two tasks, and the removal must see the like the addition is
        recording. Weak: only cards with an event in progress hold one. (Discord sends a card's
        reactions to the shard of its server, so one process sees all of them.)"""

    @property
    def profiles(self) -> PickStorage:
        """The shared profile store, as the keeper of the item messages (`save_picks` / `picks`)."""
        return picks_kept_by(self.conversations.engine.profiles)

    @property
    def shard_label(self) -> str | None:
        """'shards 0,1 of 4' when this process runs some of the bot's shards; None when it runs the bot whole."""
        return None

    @property
    def registers_commands(self) -> bool:
        """Whether this process registers the slash commands: one process does it for the whole bot."""
        return True

    async def setup_hook(self) -> None:
        await self.add_cog(RecoCommands(self))
        self.tree.error(self._on_app_command_error)
        if self.registers_commands:
            await self.sync_commands()

    async def sync_commands(self) -> list[app_commands.AppCommand]:
        """To the test server when one is set (instant), else globally (can take a while to show)."""
        if self.guild_id is None:
            return await self.tree.sync()
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        return await self.tree.sync(guild=guild)

    async def on_ready(self) -> None:
        if self._announced or self.user is None:  # on_ready fires again after a reconnect
            return
        self._announced = True
        where = f"server {self.guild_id}" if self.guild_id else "all servers (global commands)"
        shards = f" on {self.shard_label}" if self.shard_label else ""
        commands_by = "" if self.registers_commands else " (registered by the process that runs shard 0)"
        self.announce(
            f"recochat is online as {self.user} in {len(self.guilds)} server(s){shards}; "
            f"slash commands for {where}{commands_by}."
        )
        scopes = ("bot", "applications.commands")
        self.announce(f"invite: {discord.utils.oauth_url(self.user.id, permissions=PERMISSIONS, scopes=scopes)}")
        if self.setup_problem:
            self.announce(f"replying with template prose: {self.setup_problem}")

    # -- messages ---------------------------------------------------------------------------
    def addressed_text(self, message: discord.Message) -> str | None:
        """The text meant for the bot (mentions stripped), or None when the message isn't for it."""
        if message.author.bot or self.user is None:
            return None
        channel = message.channel
        mentioned = self.user in message.mentions
        in_own_thread = isinstance(channel, discord.Thread) and channel.owner_id == self.user.id
        if in_own_thread and message.mentions and not mentioned:
            return None  # people talking to each other in the bot's thread
        if not (mentioned or in_own_thread or isinstance(channel, discord.DMChannel)):
            return None
        return re.sub(rf"<@!?{self.user.id}>", "", message.content).strip() or "hi"

    async def on_message(self, message: discord.Message) -> None:
        text = self.addressed_text(message)
        if text is None:
            return
        user = profile_id(message.author)
        wait = self.rate_limit.wait_s(user)
        if wait:
            if self.rate_limit.should_warn(user, wait):
                await message.reply(polite(wait), mention_author=False)
            return
        channel: discord.abc.Messageable = await self._conversation_channel(message)
        reference = message if channel == message.channel else None

        async def send(**kwargs: Any) -> discord.Message:
            nonlocal reference
            if reference is not None and "content" in kwargs:
                kwargs.update(reference=reference, mention_author=False)
                reference = None
            return await channel.send(**kwargs)

        await self.respond(user, message.author, text, send, typing=channel.typing())

    async def _conversation_channel(self, message: discord.Message) -> discord.abc.Messageable:
        """A mention in a plain server channel opens a thread; anywhere else the bot answers in place."""
        if not (self.threads and isinstance(message.channel, discord.TextChannel)):
            return message.channel
        name = f"recochat · {message.author.display_name}"[:100]
        try:
            return await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.HTTPException as error:
            log.warning("cannot open a thread in #%s (%s); answering in the channel", message.channel, error)
            return message.channel

    async def respond(
        self,
        user_id: str,
        owner: discord.abc.User,
        text: str,
        send: Send,
        typing: AbstractAsyncContextManager[Any] | None = None,
    ) -> Reply | None:
        """One reactable card per recommended item the moment ranking is done, then the streamed prose."""
        live = LiveMessage(send, self.edit_interval_s)
        stream = self.conversations.stream(user_id, text)
        sent = []
        try:
            async with typing or nullcontext():
                for item in await stream.items():
                    message = await send(embed=item_embed(item, owner.display_name))
                    await self._remember(message.id, user_id, item.id)
                    sent.append(message)
                async for chunk in stream:
                    await live.push(chunk)
            await live.finish()
        except Exception:
            log.exception("turn failed for %s", user_id)
            await self._try(send(content=SORRY))
            return None
        reply = stream.reply
        assert reply is not None
        if self.seed_reactions:
            for message in sent:
                for emoji in (LIKE, DISLIKE):
                    await self._try(message.add_reaction(emoji))
        return reply

    async def _remember(self, message_id: int, user_id: str, item_id: str) -> None:
        """Store which item the card shows to whom, for whichever process gets its reactions. A
        store that fails costs the reactions on this card, never the reply."""
        try:
            await asyncio.to_thread(self.profiles.save_picks, str(message_id), user_id, [item_id])
        except Exception:
            log.exception("cannot store card %s of %s; reactions on it will be ignored", message_id, user_id)

    async def pick(self, message_id: int) -> Pick | None:
        """The item message as stored, or None when it is not one of the bot's item cards."""
        stored = await asyncio.to_thread(self.profiles.picks, str(message_id))
        if stored is None or len(stored.item_ids) != 1:
            return None
        return Pick(message_id, stored.user_id, stored.item_ids[0], list(stored.held))

    @staticmethod
    async def _try(action: Awaitable[Any]) -> None:
        try:
            await action
        except discord.HTTPException as error:
            log.warning("discord call failed: %s", error)

    # -- reactions --------------------------------------------------------------------------
    def _may_be_feedback(self, payload: discord.RawReactionActionEvent) -> bool:
        """A 👍/👎 from someone other than the bot: only these are worth a look in the store (every
        reaction in every server comes here, and the bot seeds two on each card itself)."""
        mine = self.user is not None and payload.user_id == self.user.id
        return not mine and reaction_value(payload.emoji) is not None

    async def _owners_pick(self, payload: discord.RawReactionActionEvent) -> Pick | None:
        """The card's pick when the reaction is its owner's; None for anything else."""
        pick = await self.pick(payload.message_id)
        return pick if pick is not None and payload.user_id == pick.owner_id else None

    def _card_lock(self, message_id: int) -> asyncio.Lock:
        lock = self._card_locks.get(message_id)
        if lock is None:
            lock = self._card_locks[message_id] = asyncio.Lock()
        return lock

    async def _save_held(self, pick: Pick) -> None:
        await asyncio.to_thread(self.profiles.set_held, str(pick.message_id), pick.held)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if not self._may_be_feedback(payload):
            return
        emoji = str(payload.emoji)
        async with self._card_lock(payload.message_id):  # events on one card run in the order they came
            pick = await self._owners_pick(payload)
            if pick is None or emoji in pick.held:
                return
            try:
                await self.conversations.feedback(pick.user_id, pick.item_id, reaction_value(emoji))  # type: ignore[arg-type]
            except RecochatError as error:
                log.warning("feedback on %s ignored: %s", pick.item_id, error)
                return
            pick.held.append(emoji)
            await self._save_held(pick)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """Removing a 👍/👎 undoes it; reactions still on the message keep counting, in their order."""
        if not self._may_be_feedback(payload):
            return
        emoji = str(payload.emoji)
        undo = getattr(self.conversations, "undo_feedback", None)
        if undo is None:
            log.warning("reaction removed but Conversations.undo_feedback is missing; feedback kept")
            return
        async with self._card_lock(payload.message_id):
            pick = await self._owners_pick(payload)
            if pick is None or emoji not in pick.held:
                return
            index = pick.held.index(emoji)
            later = pick.held[index + 1 :]
            try:
                for _ in range(len(pick.held) - index):  # undo takes back the latest one each time
                    await undo(pick.user_id, pick.item_id)
            except RecochatError as error:  # e.g. the profile was reset or forgotten since
                log.warning("reaction removed on %s: %s", pick.item_id, error)
            pick.held = pick.held[:index]
            for other in later:
                await self.conversations.feedback(pick.user_id, pick.item_id, reaction_value(other))  # type: ignore[arg-type]
                pick.held.append(other)
            await self._save_held(pick)

    async def _on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("slash command failed", exc_info=error)
        if interaction.response.is_done():
            await self._try(interaction.followup.send(SORRY, ephemeral=True))
        else:
            await self._try(interaction.response.send_message(SORRY, ephemeral=True))


# -- slash commands ----------------------------------------------------------------------------
class RecoCommands(commands.Cog):
    """/recommend answers in the channel; the others answer only to the person who asked."""

    def __init__(self, bot: RecoBot) -> None:
        self.bot = bot

    @property
    def conversations(self) -> Conversations:
        return self.bot.conversations

    @app_commands.command(description="Get recommendations, optionally for what you're in the mood for.")
    @app_commands.describe(what="For example: funny sci-fi from the 90s")
    async def recommend(self, interaction: discord.Interaction, what: str | None = None) -> None:
        user = profile_id(interaction.user)
        wait = self.bot.rate_limit.wait_s(user)
        if wait:
            await interaction.response.send_message(polite(wait), ephemeral=True)
            return
        await interaction.response.defer(thinking=True)

        async def send(**kwargs: Any) -> discord.WebhookMessage:
            return await interaction.followup.send(wait=True, **kwargs)

        await self.bot.respond(user, interaction.user, what or "recommend something", send)

    @app_commands.command(description="What recochat knows about your taste (only you see this).")
    async def profile(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self.conversations.profile(profile_id(interaction.user))
        await interaction.followup.send("\n".join(view.lines())[:MESSAGE_LIMIT], ephemeral=True)

    @app_commands.command(description="Why was item number n recommended to you?")
    @app_commands.describe(n="The item's number in your last recommendations")
    async def why(self, interaction: discord.Interaction, n: app_commands.Range[int, 1, 25]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            answer = await self.conversations.why(profile_id(interaction.user), n)
        except NoSuchRank:
            answer = f"There is no #{n} in your last recommendations; ask for some with /recommend."
        await interaction.followup.send(answer[:MESSAGE_LIMIT], ephemeral=True)

    @app_commands.command(description="Start fresh: clear your current tastes (history is kept).")
    async def reset(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.conversations.reset(profile_id(interaction.user))
        await interaction.followup.send(
            "Done: your tastes are reset and I'll start fresh. Use /forget to delete your history too.", ephemeral=True
        )

    @app_commands.command(description="Delete everything recochat knows about you.")
    async def forget(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(
            "This deletes your profile and every event recochat logged for you. Sure?",
            view=ForgetConfirm(self.bot, profile_id(interaction.user)),
            ephemeral=True,
        )


class ForgetConfirm(discord.ui.View):
    def __init__(self, bot: RecoBot, user_id: str) -> None:
        super().__init__(timeout=120)
        self.bot = bot
        self.user_id = user_id

    @discord.ui.button(label="Forget me", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer()
        gone = await self.bot.conversations.forget(self.user_id)  # the store's forget takes the user's cards too
        self.stop()
        await interaction.edit_original_response(
            content=f"Done: your profile and {gone} events are deleted.", view=None
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content="Nothing was deleted.", view=None)


class ShardedRecoBot(RecoBot, commands.AutoShardedBot):
    """RecoBot on some of the bot's shards, so several processes serve one bot: each runs its
    `shard_ids` of `shard_count`, and Discord routes each server's events to its shard. Every
    process shares the profiles and cards through the profile store (PostgreSQL for several
    machines); the process that runs shard 0 registers the slash commands and gets the DMs."""

    def __init__(
        self, conversations: Conversations, *, shard_ids: Sequence[int], shard_count: int, **options: Any
    ) -> None:
        super().__init__(conversations, shard_ids=list(shard_ids), shard_count=shard_count, **options)

    @property
    def shard_label(self) -> str | None:
        return f"shards {','.join(map(str, self.shard_ids or []))} of {self.shard_count}"

    @property
    def registers_commands(self) -> bool:
        return 0 in (self.shard_ids or [])


def make_bot(
    conversations: Conversations,
    *,
    shard_ids: Sequence[int] | None = None,
    shard_count: int | None = None,
    **options: Any,
) -> RecoBot:
    """The bot whole (no shards given), or the given shards of it (`check_shards` checks them)."""
    shards = check_shards(shard_ids, shard_count)
    if shards is None:
        return RecoBot(conversations, **options)
    return ShardedRecoBot(conversations, shard_ids=shards[0], shard_count=shards[1], **options)


# -- entry point -------------------------------------------------------------------------------
def run_discord(
    runtime: Runtime,
    token: str,
    guild_id: int | None,
    *,
    shard_ids: Sequence[int] | None = None,
    shard_count: int | None = None,
    announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> None:
    """Run the bot (or the given shards of it) until interrupted; SetupError (one clear line)
    when Discord refuses it."""
    token = check_token(token)
    bot = make_bot(
        runtime.conversations,
        shard_ids=shard_ids,
        shard_count=shard_count,
        guild_id=guild_id,
        announce=announce,
        setup_problem=runtime.setup_problem,
    )
    try:
        bot.run(token, log_handler=None)  # logs go where configure_logging put them
    except discord.LoginFailure:
        raise SetupError(
            "Discord rejected the bot token (DISCORD_TOKEN / RECOCHAT_DISCORD_TOKEN); "
            f"reset it at {_PORTAL} → your application → Bot → Reset Token and set the new one"
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise SetupError(
            f"the Message Content intent is off: {_PORTAL} → your application → Bot → Privileged Gateway "
            "Intents → turn on MESSAGE CONTENT INTENT → Save Changes, then start again"
        ) from None
    except discord.Forbidden as error:
        raise SetupError(
            f"Discord refused to register slash commands ({error.text}); is the bot invited to server {guild_id} "
            "with the applications.commands scope? (RECOCHAT_DISCORD_GUILD)"
        ) from None
    except discord.ConnectionClosed as error:
        if error.code == 4010:  # an invalid shard: Discord's count disagrees with ours
            raise SetupError(
                f"Discord refused shard {error.shard_id} of --shard-count {shard_count}; give every process the "
                "same --shard-count and ids from 0 to that count minus 1"
            ) from None
        if error.code == 4011:
            raise SetupError(
                "Discord says the bot is in too many servers for this many shards (sharding required); "
                "raise --shard-count (about one shard per 1000 servers) and split the ids over the processes"
            ) from None
        raise
    except OSError as error:
        raise SetupError(f"cannot reach Discord: {error}") from None
