"""Django Channels Rest Framework 1.3.0 as its README says: a ``model_observer`` on messages,
one group per room, and a ``retrieve`` action for the room's state."""
