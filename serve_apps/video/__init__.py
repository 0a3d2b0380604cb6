"""Pro video operations on Ray: one task per operation, batches, and background jobs."""
