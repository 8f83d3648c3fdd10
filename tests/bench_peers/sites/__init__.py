"""One Django settings module per peer, plus ``plain`` (the same models, no peer at all)."""
