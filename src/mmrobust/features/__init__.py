"""Features: decode clips once, store frames / log-mel / tokens in tar shards, augment at load time."""
