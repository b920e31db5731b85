"""The one transition table every status change goes through (API.md's state diagram)."""

import pytest

from services.orders.domain import InvalidTransition, OrderStatus, check_transition

S = OrderStatus
ALLOWED = {
    (S.PENDING, S.CONFIRMED),
    (S.PENDING, S.CANCELLED),
    (S.CONFIRMED, S.SHIPPED),
    (S.CONFIRMED, S.CANCELLED),
    (S.SHIPPED, S.DELIVERED),
}
EVERY_PAIR = [(a, b) for a in OrderStatus for b in OrderStatus]


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_the_diagram_s_moves_are_allowed(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [p for p in EVERY_PAIR if p not in ALLOWED])
def test_every_other_move_is_a_conflict(current, target):
    with pytest.raises(InvalidTransition) as refused:
        check_transition(current, target)

    assert (refused.value.current, refused.value.target) == (current, target)
    assert current.value in refused.value.detail


def test_terminal_states_go_nowhere():
    for terminal in (S.DELIVERED, S.CANCELLED):
        for target in OrderStatus:
            with pytest.raises(InvalidTransition):
                check_transition(terminal, target)
