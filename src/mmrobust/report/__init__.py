"""Tables (Markdown + CSV), figures (PNG), metrics.json and the read-out of the robustness study."""
