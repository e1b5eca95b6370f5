"""pulserec: a recommender engine that captures what each user is interested in right now."""

__version__ = "0.1.0"
