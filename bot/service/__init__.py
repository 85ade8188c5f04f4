"""The running bot: the composition root, the poll pipeline, scheduler wiring, the web
server, health and the `/news` command core.
"""
