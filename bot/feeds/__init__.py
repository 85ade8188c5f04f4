"""Getting feeds: fetch, parse (RSS, Atom, RDF and JSON Feed, in a child process; each
body cut to `poll.max_items` entries and read in the charset it really has), plain
text, canonical URLs, the polling policy, the declared feed list and OPML, the feeds a
web page names, the address guard on feeds added from chat, and the feed list changed
at run time. Imports `bot.core`, `bot.storage` and `bot.matching`.
"""
