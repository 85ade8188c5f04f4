"""Delivery adapters: each implements `bot.chat.adapter.Adapter` for one platform.

`console` prints to the terminal and needs no configuration. Only the composition root
(`bot/service/app.py`) imports this package; `bot/` depends on the protocol, never on an adapter.
"""
