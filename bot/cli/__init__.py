"""The `wirewatch` command: argument parsing, one handler per subcommand, terminal
reports. Imports what a command needs when it runs, so that `--version` and `health`
start fast.
"""
