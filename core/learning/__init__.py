"""The self-learning cycle's work, without Ray."""
