"""Getting feeds: fetch, parse (RSS, Atom, RDF and JSON Feed, in a child process; each
body cut to `poll.max_items` entries and read in the charset it really has), plain
text, canonical URLs, the polling policy, the declared feed list and OPML. Imports
`bot.core`, `bot.storage` and `bot.matching`.
"""
