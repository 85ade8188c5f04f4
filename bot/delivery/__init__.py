"""From matches to posts: subscriptions, routing into stories, digests and the delivery
queue (bundled as the outbox), and the dispatcher that hands messages to adapters.
"""
