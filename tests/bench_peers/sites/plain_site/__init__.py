"""Plain Django: the chat models and nothing that captures changes (the writer's baseline)."""
