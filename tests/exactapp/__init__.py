"""A kanban-ish app with every relation kind rxcdc tracks, for the exactness state machine."""
