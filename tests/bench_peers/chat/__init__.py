"""The benchmark's chat: rooms, messages, authors, and likes (a many-to-many)."""
