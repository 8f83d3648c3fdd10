"""RxDjango 0.0.50 as its README says: a ``ContextChannel`` on the room, Redis and MongoDB."""
