"""What a chat platform sees: the adapter protocol, the neutral Message and its builders,
the `/news` command table's types, webhook URLs. `adapters/` imports only this package
and `bot.core`.
"""
