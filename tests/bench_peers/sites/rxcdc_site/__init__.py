"""rxcdc as its docs say: a ``StateChannel`` on the room, ``rx_replicate`` next to daphne."""
