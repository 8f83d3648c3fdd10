"""Failures the exactness state machine found, each replayed as its minimal sequence of steps.

Every test is a sequence Hypothesis printed (``state.<rule>(...)``), cut to what the failure
needs; ``state.exact()`` after each step waits for quiescence and requires every connected
client (per user) and the cache to equal the database. Slots: 0 = user 0 on board 0,
1 = user 1 on board 0, 2 = user 0 on board 1, 3 = user 1 on board 1. ``columns`` in the setup
lists, per board, the number of cards in each column.
"""

import pytest

from tests.exact.machine import machine_stack, replay
from tests.exact.workload import BIG_INTS, OPS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def stack(services, tmp_path, transactional_db):
    with machine_stack(services, tmp_path) as running:
        yield running


@pytest.mark.parametrize("big", BIG_INTS)
def test_jsonb_integer_outside_64_bits_reaches_clients_exactly(big):
    with replay(columns=[[1], []], settings=False) as state:
        state.connect(slot=0, resume=False)
        state.exact()
        state.write(op=OPS.update_card(card=0, title="a", payload={"n": big}))
        state.exact()


def test_update_then_delete_drops_id_from_parent_list():
    with replay(columns=[[2], []], settings=False) as state:
        state.connect(slot=0, resume=False)
        state.exact()
        # Paused: the worker reads the UPDATE only once the DELETE has committed.
        state.burst(batch=[OPS.update_then_delete_card(card=0, title="a")], paused=True)
        state.exact()


def test_note_added_then_its_card_deleted_drops_the_card_from_the_column():
    # The same race as an UPDATE then a DELETE, through a change in the card's subtree.
    with replay(columns=[[2], []], settings=False) as state:
        state.connect(slot=0, resume=False)
        state.exact()
        state.burst(
            batch=[OPS.add_note(card=0, user=0, text="a"), OPS.delete_card(card=0)], paused=True
        )
        state.exact()


def test_swapping_two_cards_positions_reorders_the_column():
    with replay(columns=[[2], []], settings=False) as state:
        state.connect(slot=0, resume=False)
        state.exact()
        state.write(op=OPS.swap_cards(card=0, other=1))
        state.exact()


def test_renaming_a_label_reorders_the_cards_labels():
    with replay(columns=[[1], []], settings=False) as state:
        state.write(op=OPS.link_label(card=0, label=0))  # "bug"
        state.write(op=OPS.link_label(card=0, label=1))  # "idea"
        state.connect(slot=0, resume=False)
        state.exact()
        state.write(op=OPS.rename_label(label=0, name="zzz"))
        state.exact()


def test_note_handed_to_another_user_leaves_one_list_and_joins_the_other():
    with replay(columns=[[1], []], settings=False) as state:
        state.connect(slot=0, resume=False)
        state.connect(slot=1, resume=False)
        state.write(op=OPS.add_note(card=0, user=0, text="a"))
        state.exact()
        state.write(op=OPS.hand_over_note(note=0, user=1))
        state.exact()


def test_resumed_client_keeps_its_own_note_in_a_changed_card():
    # The card changed while the client was away, its note did not: the delta resume sends
    # the card (with its list of notes) but not the note.
    with replay(columns=[[1], []], settings=False) as state:
        state.connect(slot=0, resume=False)
        state.write(op=OPS.add_note(card=0, user=0, text="a"))
        state.exact()
        state.disconnect(slot=0)
        state.write(op=OPS.update_card(card=0, title="b", payload=0))
        state.exact()
        state.connect(slot=0, resume=True)
        state.exact()


def test_chunked_transaction_parts_are_numbered_without_gaps():
    # 21 updates of board 0's card, then 21 of board 1's: part 0 holds nothing of board 1.
    with replay(columns=[[1], [1]], settings=False) as state:
        state.connect(slot=0, resume=False)
        state.connect(slot=2, resume=False)
        state.exact()
        state.write(op=OPS.big_transaction(updates=42, repeat=21))
        state.exact()


def test_client_whose_snapshot_request_meets_a_reset_loads_the_board():
    # The second client asks for the board while the worker streams a long transaction that
    # ends in a TRUNCATE: the reset reaches it while it waits for the snapshot reply.
    with replay(columns=[[1], []], settings=False) as state:
        state.connect(slot=0, resume=False)
        state.exact()
        state.connect_during(slot=1, resume=False, batch=[OPS.truncate(what="cards", updates=100)])
        state.exact()
