"""The Discord front end: one thin module over the conversation API (the only one that imports discord).

Setup: `pip install 'recochat[discord]'`, a bot token in DISCORD_TOKEN (or RECOCHAT_DISCORD_TOKEN),
the Message Content intent switched on in the developer portal (see the README, "Discord bot").
Construct: `RecoBot(conversations, guild_id=None)`; `run_discord(runtime, token, guild_id)` runs it.
Talk: mention the bot in a channel (it opens a thread and answers there), keep talking in that
thread without mentioning it, or DM it; or use /recommend, /profile, /why, /reset, /forget.

Profiles are keyed by Discord user id (`discord:<id>`), never by channel. Every recommended item
is sent as its own compact message, so a 👍/👎 on that message names exactly one item; only the
reactions of the person it was recommended to count, and removing a reaction undoes it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from ..conversation import Conversations, Reply, ReplyItem
from ..errors import NoSuchRank, RecochatError, SetupError
from ..runtime import Runtime

log = logging.getLogger("recochat.discord")

MESSAGE_LIMIT = 2000
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


# -- helpers the bot is made of ----------------------------------------------------------------
class RateLimiter:
    """At most `turns` turns per `per_s` seconds per user (sliding window).

    Bounded memory: a user whose last turn is older than the window has nothing left to count and
    is dropped; past `max_users` users the least recently active go first (they only get a fresh
    window, never a longer wait)."""

    def __init__(
        self,
        turns: int = 6,
        per_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10_000,
    ) -> None:
        self.turns = turns
        self.per_s = per_s
        self.clock = clock
        self.max_users = max_users
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        """Per user, the times of the turns in the window; ordered by the latest turn, oldest first."""
        self._warned_until: OrderedDict[str, float] = OrderedDict()

    @property
    def tracked(self) -> int:
        """Users currently held in memory."""
        return len(self._hits)

    def wait_s(self, key: str) -> float:
        """0 and count the turn when `key` may go now, else the seconds until it may."""
        now = self.clock()
        self._expire(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.per_s:
            hits.popleft()
        if len(hits) >= self.turns:
            return hits[0] + self.per_s - now
        hits.append(now)
        self._hits.move_to_end(key)
        while len(self._hits) > self.max_users:
            self._hits.popitem(last=False)
        return 0.0

    def should_warn(self, key: str, wait_s: float) -> bool:
        """Say the polite message once per wait, not once per extra message."""
        now = self.clock()
        if self._warned_until.get(key, 0.0) > now:
            return False
        self._warned_until[key] = now + wait_s
        self._warned_until.move_to_end(key)
        while len(self._warned_until) > self.max_users:
            self._warned_until.popitem(last=False)
        return True

    def _expire(self, now: float) -> None:
        """Drop users with no turn left in the window, and warnings that have run out (oldest first)."""
        while self._hits:
            key, hits = next(iter(self._hits.items()))
            if hits and hits[-1] > now - self.per_s:
                break
            del self._hits[key]
        while self._warned_until and next(iter(self._warned_until.values())) <= now:
            self._warned_until.popitem(last=False)


def polite(wait_s: float) -> str:
    return f"You're going a little fast for me — give me {max(1, round(wait_s))} s and ask again, please."


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break, else a space, else hard."""
    pieces = []
    text = text.strip()
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].strip()
    if text:
        pieces.append(text)
    return pieces


Send = Callable[..., Awaitable[Any]]
"""`send(content=..., embed=...)` → the sent message (a channel send, or an interaction followup)."""


class LiveMessage:
    """Shows streamed text as it comes: one message per 2000 characters, each edited at most once per `interval_s`."""

    def __init__(self, send: Send, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.send = send
        self.interval_s = interval_s
        self.clock = clock
        self.text = ""
        self.messages: list[Any] = []
        self._shown: list[str] = []
        self._last = float("-inf")

    async def push(self, chunk: str) -> None:
        self.text += chunk
        if self.text.strip() and self.clock() - self._last >= self.interval_s:
            await self._flush()

    async def finish(self) -> None:
        pieces = split_message(self.text)
        if pieces == self._shown:
            return
        if any(i < len(pieces) and pieces[i] != shown for i, shown in enumerate(self._shown)):
            pause = self._last + self.interval_s - self.clock()  # an edit: keep to the interval
            if pause > 0:
                await asyncio.sleep(pause)
        await self._flush()

    async def _flush(self) -> None:
        self._last = self.clock()
        for i, piece in enumerate(split_message(self.text)):
            if i < len(self.messages):
                if piece != self._shown[i]:
                    await self.messages[i].edit(content=piece)
                    self._shown[i] = piece
            else:
                self.messages.append(await self.send(content=piece))
                self._shown.append(piece)


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
    """One item message: whose recommendation it is, and the owner's 👍/👎 on it in the order recorded."""

    user_id: str
    owner_id: int
    item_id: str
    held: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)
    """Held while a reaction event reads and changes `held` across its awaits: a quick 👍 then
    un-👍 arrive as two tasks, and the removal must see the like the addition is recording."""


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
        max_tracked: int = 10_000,
        intents: discord.Intents | None = None,
        announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents or bot_intents(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.conversations = conversations
        self.guild_id = guild_id
        self.threads = threads
        self.rate_limit = rate_limit or RateLimiter()
        self.edit_interval_s = edit_interval_s
        self.seed_reactions = seed_reactions
        self.max_tracked = max_tracked
        self.announce = announce
        self._announced = False
        self.picks: OrderedDict[int, Pick] = OrderedDict()
        """Item message id → pick; bounded, in memory (reactions on older messages are ignored)."""

    async def setup_hook(self) -> None:
        await self.add_cog(RecoCommands(self))
        self.tree.error(self._on_app_command_error)
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
        self.announce(f"recochat is online as {self.user} in {len(self.guilds)} server(s); slash commands for {where}.")
        scopes = ("bot", "applications.commands")
        self.announce(f"invite: {discord.utils.oauth_url(self.user.id, permissions=PERMISSIONS, scopes=scopes)}")

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
                    self._track(message.id, Pick(user_id, owner.id, item.id))
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

    def _track(self, message_id: int, pick: Pick) -> None:
        self.picks[message_id] = pick
        while len(self.picks) > self.max_tracked:
            self.picks.popitem(last=False)

    @staticmethod
    async def _try(action: Awaitable[Any]) -> None:
        try:
            await action
        except discord.HTTPException as error:
            log.warning("discord call failed: %s", error)

    # -- reactions --------------------------------------------------------------------------
    def _pick_for(self, payload: discord.RawReactionActionEvent) -> tuple[Pick, str] | None:
        """The pick and normalized emoji when this is the owner's 👍/👎 on an item message."""
        pick = self.picks.get(payload.message_id)
        if pick is None or payload.user_id != pick.owner_id or reaction_value(payload.emoji) is None:
            return None  # not an item message, someone else's reaction, or another emoji
        return pick, str(payload.emoji)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        found = self._pick_for(payload)
        if found is None:
            return
        pick, emoji = found
        async with pick.lock:  # events on one card run in the order they came, one at a time
            if emoji in pick.held:
                return
            try:
                await self.conversations.feedback(pick.user_id, pick.item_id, reaction_value(emoji))  # type: ignore[arg-type]
            except RecochatError as error:
                log.warning("feedback on %s ignored: %s", pick.item_id, error)
                return
            pick.held.append(emoji)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """Removing a 👍/👎 undoes it; reactions still on the message keep counting, in their order."""
        found = self._pick_for(payload)
        if found is None:
            return
        pick, emoji = found
        undo = getattr(self.conversations, "undo_feedback", None)
        if undo is None:
            log.warning("reaction removed but Conversations.undo_feedback is missing; feedback kept")
            return
        async with pick.lock:
            if emoji not in pick.held:
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

    def forget_picks(self, user_id: str) -> None:
        for message_id in [m for m, pick in self.picks.items() if pick.user_id == user_id]:
            del self.picks[message_id]

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
        gone = await self.bot.conversations.forget(self.user_id)
        self.bot.forget_picks(self.user_id)
        self.stop()
        await interaction.edit_original_response(
            content=f"Done: your profile and {gone} events are deleted.", view=None
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content="Nothing was deleted.", view=None)


# -- entry point -------------------------------------------------------------------------------
def run_discord(
    runtime: Runtime,
    token: str,
    guild_id: int | None,
    *,
    announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> None:
    """Run the bot until interrupted; SetupError (one clear line) when Discord refuses it."""
    token = check_token(token)
    bot = RecoBot(runtime.conversations, guild_id=guild_id, announce=announce)
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
    except OSError as error:
        raise SetupError(f"cannot reach Discord: {error}") from None
