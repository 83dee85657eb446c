"""Front ends: thin adapters over `recochat.bot.conversation.Conversations`.

Only these modules import Textual or discord.py; the dialogue core in `recochat.bot` never
imports a front end.
"""
