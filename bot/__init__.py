"""wirewatch: poll news feeds, match them against watchlists, report what is new."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/wirewatch/wirewatch"
USER_AGENT = f"wirewatch/{__version__} (+{PROJECT_URL})"
