"""Watchlists and matching: text normalisation, the watchlist file format, the matcher
with its pre-filter and rule evaluation, story grouping and evaluation. Imports only
`bot.core`.
"""
