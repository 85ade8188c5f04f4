"""The base of the house: settings, secrets, the frozen values passed between stages,
channel references, cron, metrics, the clock and the project's errors. Imports nothing
else of `bot`.
"""
