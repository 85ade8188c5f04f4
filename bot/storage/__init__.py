"""The database: schema and migrations, the store of feeds, items and matches, and the
`migrate-db` and `backup` commands' work. Imports only `bot.core`.
"""
