"""Watchlists and matching: text normalisation, the watchlist file format, the matcher,
story grouping and evaluation. Imports only `bot.core`.
"""
