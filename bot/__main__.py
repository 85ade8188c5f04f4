"""`python -m bot` is the same as the `wirewatch` command."""

from bot.cli.main import main

raise SystemExit(main())
