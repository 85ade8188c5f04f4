"""Getting feeds: fetch, parse (in a child process), plain text, canonical URLs, the
polling policy, the declared feed list and OPML. Imports `bot.core`, `bot.storage`
and `bot.matching`.
"""
