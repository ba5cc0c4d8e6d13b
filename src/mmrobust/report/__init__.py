"""Tables (Markdown + CSV), figures (PNG), metrics.json, the headline metrics and the read-out of the
robustness study."""
