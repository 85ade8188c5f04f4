"""From matches to posts: subscriptions, routing into stories, digests, the delivery
queue (the outbox) and the dispatcher that hands messages to adapters.
"""
