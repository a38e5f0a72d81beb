"""The access policy on its own: each role against cases in and outside its departments, held or
assigned, waiting, and recused (recusal binds admins too)."""

from __future__ import annotations

import pytest

from bot.domain.access import Action, Case, Role, Viewer, allows, can_act, can_see, is_recused, names_viewer

QUALITY = frozenset({"quality"})
FINANCE = frozenset({"finance"})

AGENT = Viewer("wangfang", Role.AGENT, QUALITY)
OTHER_AGENT = Viewer("sunqi", Role.AGENT, FINANCE)
SUPERVISOR = Viewer("zhaoliu", Role.SUPERVISOR, QUALITY)
OTHER_SUPERVISOR = Viewer("zhouba", Role.SUPERVISOR, FINANCE)
ADMIN = Viewer("root", Role.ADMIN)

QUEUED = Case(departments=QUALITY, waiting=True)
HELD = Case(departments=QUALITY, holders=frozenset({"wangfang"}))
ASSIGNED = Case(departments=QUALITY, assignee="wangfang")
TICKET = Case(departments=QUALITY, assignee="lisi")
GENERAL_QUEUE = Case(waiting=True)


@pytest.mark.parametrize(
    ("viewer", "case", "seen"),
    [
        (AGENT, QUEUED, True),
        (OTHER_AGENT, QUEUED, False),  # another department's queue
        (AGENT, HELD, True),
        (OTHER_AGENT, HELD, False),
        (AGENT, ASSIGNED, True),
        (AGENT, TICKET, False),  # a colleague's ticket in the same department
        (OTHER_AGENT, GENERAL_QUEUE, True),  # nobody's department yet: everyone's queue
        (Viewer("x", Role.AGENT), QUEUED, True),  # an account without a department: every queue
        (SUPERVISOR, TICKET, True),
        (OTHER_SUPERVISOR, TICKET, False),
        (OTHER_SUPERVISOR, Case(departments=QUALITY, assignee="zhouba"), True),  # assigned to them
        (ADMIN, TICKET, True),
    ],
)
def test_who_sees_what(viewer: Viewer, case: Case, seen: bool) -> None:
    assert can_see(viewer, case) is seen


@pytest.mark.parametrize("viewer", [AGENT, SUPERVISOR, ADMIN])
@pytest.mark.parametrize("action", list(Action))
def test_a_recused_person_sees_and_does_nothing_whatever_their_role(viewer: Viewer, action: Action) -> None:
    me = frozenset({viewer.username})
    named = Case(departments=QUALITY, holders=me, assignee=viewer.username, waiting=True, recused=me)
    assert is_recused(viewer, named)
    assert not allows(viewer, action, named)


def test_recusal_matches_any_identity_of_the_person_ignoring_case() -> None:
    wang = Viewer("wf2", Role.ADMIN, identities=frozenset({"wangfang", "王芳"}))
    assert not can_see(wang, Case(recused=frozenset({"WangFang"})))
    assert not can_see(wang, Case(recused=frozenset({"王芳"})))
    assert can_see(wang, Case(recused=frozenset({"lisi"})))
    assert names_viewer(wang, ["李四", "王芳"]) and not names_viewer(wang, ["李四"])


def test_only_admins_export_or_erase() -> None:
    for action in (Action.EXPORT, Action.ERASE):
        assert can_act(ADMIN, action, Case())
        assert not can_act(SUPERVISOR, action, Case())
        assert not can_act(AGENT, action, HELD)


def test_work_and_transfer_need_the_case_in_hand_or_a_supervisor_of_its_department() -> None:
    assert can_act(AGENT, Action.WORK, HELD) and can_act(AGENT, Action.WORK, ASSIGNED)
    assert not can_act(AGENT, Action.WORK, QUEUED)  # seen in the queue, not yet taken
    assert can_act(AGENT, Action.TAKE, QUEUED) and not can_act(OTHER_AGENT, Action.TAKE, QUEUED)
    assert can_act(AGENT, Action.TRANSFER, HELD) and not can_act(AGENT, Action.TRANSFER, ASSIGNED)
    assert can_act(SUPERVISOR, Action.TRANSFER, HELD)
    assert not can_act(OTHER_SUPERVISOR, Action.TRANSFER, HELD)
    assert not can_act(OTHER_SUPERVISOR, Action.WORK, TICKET)
