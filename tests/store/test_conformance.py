"""The store contract (sandbox/store/protocol.py), the same assertions on every store, through
the store's own API: sessions, units of work, versions, reset, eviction, journals, inboxes,
wake-ups and the session's bound. The stores are tests/store/conftest.py's."""
from __future__ import annotations

from dataclasses import replace

import pytest

from sandbox import errors
from sandbox.domain.faults import Rule

TASK = "task_abcdef123456"


# -- units of work --
def rename(tx, name: str) -> str:
    tx.put("tasks", TASK, replace(tx.task(TASK), name=name))
    return name


def add_tasks(tx, ids: list[str]) -> None:
    for task_id in ids:
        tx.put("tasks", task_id, replace(tx.task(TASK), id=task_id))


def wake(tx, at):
    tx.wake = at
    tx.clock_changed()  # a change, so that it commits


def nothing(tx) -> None:
    tx.task(TASK)


def advance(tx, seconds: float) -> None:
    tx.clock.advance(seconds)
    tx.clock_changed()


def kept(state) -> tuple:
    """What the units below change, as a state holds it."""
    return state.get("tasks", TASK).name, state.next_id, state.clock.dump(), state.faults, tuple(state.events), state.seq


# -- sessions --
@pytest.mark.parametrize("call, made", [
    pytest.param(lambda s: s.find("a"), False, id="find"),
    pytest.param(lambda s: s.open("a", create=False), False, id="open without create"),
    pytest.param(lambda s: s.open("a"), True, id="open"),
    pytest.param(lambda s: s.open("a", use=False), True, id="open without use"),
    pytest.param(lambda s: s.run("a", nothing), True, id="a unit of work"),
])
def test_open_makes_a_session_and_find_does_not(any_store, call, made):
    found = call(any_store)
    state = any_store.find("a")
    assert (state is not None, "a" in any_store.sessions([None])) == (made, made)
    if made:
        assert (state.version, state.own.size) == (0, 0), "a new session holds its seed only"
    else:
        assert found is None


def test_a_session_is_made_with_its_owner(any_store):
    assert any_store.open("a@team_1", owner="team_1").owner == "team_1"
    assert any_store.open("a@team_1", owner="team_2").owner == "team_1", "the first owner stays"


@pytest.mark.parametrize("unit", [
    pytest.param(lambda tx: rename(tx, "changed"), id="a put"),
    pytest.param(lambda tx: tx.new_id("task"), id="an id"),
    pytest.param(lambda tx: advance(tx, 60), id="the clock"),
    pytest.param(lambda tx: tx.set_faults((Rule("fault_1", "getTask", status=503),), 1), id="the faults"),
    pytest.param(lambda tx: tx.push(1.0, "read", TASK, 0), id="an event"),
    pytest.param(lambda tx: (rename(tx, "changed"), tx.new_id("task"), advance(tx, 60), tx.push(1.0, "read", TASK, 0)),
                 id="all of them"),
])
def test_a_unit_of_work_commits_whole_or_if_it_raises_not_at_all(any_store, unit):
    before = any_store.open("a")
    expected = kept(before), before.version

    def then_fail(tx):
        unit(tx)
        raise errors.TaskNotFound("a refusal after the changes")

    with pytest.raises(errors.TaskNotFound):
        any_store.run("a", then_fail)
    for view in (any_store, any_store.sibling()):
        state = view.open("a")
        assert (kept(state), state.version) == expected
    any_store.run("a", unit)
    for view in (any_store, any_store.sibling()):
        state = view.open("a")
        assert kept(state) != expected[0] and state.version == expected[1] + 1


def test_a_unit_of_work_changes_its_own_session_only(any_store):
    seeded = any_store.options.seeds(None).tables["tasks"][TASK]
    assert any_store.run("a", rename, "changed") == "changed"
    assert [any_store.open(sid).get("tasks", TASK).name for sid in ("a", "b", "default")] == [
        "changed", seeded.name, seeded.name]
    assert any_store.options.seeds(None).tables["tasks"][TASK] is seeded, "the seed never changes"


@pytest.mark.parametrize("units, versions", [
    pytest.param([nothing], [0], id="a unit that changes nothing commits nothing"),
    pytest.param([lambda tx: rename(tx, "x")], [1], id="one commit"),
    pytest.param([lambda tx: rename(tx, "x"), nothing, lambda tx: tx.new_id("t"), lambda tx: advance(tx, 1)],
                 [1, 1, 2, 3], id="one each"),
])
def test_versions_go_up_by_one_per_commit(any_store, units, versions):
    known = any_store.open("a")
    seen = []
    for unit in units:
        any_store.run("a", unit)
        seen.append(any_store.latest("a", known).version)
    assert seen == versions
    assert any_store.sibling().open("a").version == versions[-1]


@pytest.mark.parametrize("scenario", [None, "empty"])
def test_reset_keeps_the_clock_and_owner_and_empties_records_and_journal(any_store, scenario):
    any_store.open("a@team_1", owner="team_1")
    any_store.run("a@team_1", rename, "changed")
    any_store.run("a@team_1", advance, 3600)
    any_store.journal_append("a@team_1", {"operation": "getTask"}, mark="getTask 200", keep="violations")
    before = any_store.open("a@team_1")
    after = any_store.reset("a@team_1", scenario)
    assert (after.version, after.clock.dump(), after.owner, after.scenario) == (
        before.version + 1, before.clock.dump(), "team_1", scenario or "default")
    assert after.own.size == 0 and after.get("tasks", TASK) == any_store.options.seeds(scenario).tables["tasks"].get(TASK)
    assert (any_store.journal_query("a@team_1"), any_store.journal_length("a@team_1")) == ([], 0)
    assert any_store.journal_tally("a@team_1") == {"kept": 0, "tally": {}, "violations": [], "refusals": []}
    assert any_store.sibling().open("a@team_1").version == before.version + 1


def test_delete_forgets_a_session_and_its_journal(any_store):
    any_store.run("a", rename, "changed")
    any_store.journal_append("a", {"operation": "getTask"})
    any_store.delete("a")
    assert (any_store.find("a"), any_store.sessions([None]), any_store.journal_tally("a")) == (None, ["default"], None)
    again = any_store.open("a")
    assert (again.version, again.get("tasks", TASK).name, any_store.journal_query("a")) == (
        0, any_store.options.seeds(None).tables["tasks"][TASK].name, [])


def test_sessions_lists_a_tenants_default_first_and_only_that_tenants(any_store):
    for sid in ("b@t1", "default@t1", "c@t1", "a@t2", "x"):
        any_store.open(sid)
    assert any_store.sessions(["t1"]) == ["default@t1", "b@t1", "c@t1"]
    assert any_store.sessions(["t2"]) == ["a@t2"]
    assert any_store.sessions([None]) == ["default", "x"]
    assert any_store.sessions(["t2", None]) == ["a@t2", "default", "x"]
    assert any_store.sessions(["t3"]) == []


# Each step on tenant t: NAME opens NAME@t (D: its default), ?NAME finds it.
@pytest.mark.parametrize("cap, steps, alive", [
    pytest.param(2, "D a b c", ["default", "b", "c"], id="the least recently used goes, never the default"),
    pytest.param(2, "a b a c", ["a", "c"], id="a use counts"),
    pytest.param(2, "a b ?a c", ["b", "c"], id="a find does not count"),
    pytest.param(2, "a b c a", ["c", "a"], id="an evicted session comes back afresh"),
    pytest.param(0, "a b", ["b"], id="never the session being made"),
])
def test_the_per_tenant_cap_evicts_the_least_recently_used(make_store, cap, steps, alive):
    store = make_store(max_sessions=cap)
    store.open("z@other")
    for step in steps.split():
        name = step.lstrip("?").replace("D", "default")
        (store.find if step.startswith("?") else store.open)(f"{name}@t")
    assert store.sessions(["t"]) == [f"{name}@t" for name in alive]
    assert store.sessions(["other"]) == ["z@other"], "another tenant's sessions stay"


# -- journals --
def test_the_journal_appends_queries_tallies_and_clears(any_store):
    any_store.open("a")
    entries = [{"operation": "getTask", "status": 200}, {"operation": "getTask", "status": 400},
               {"operation": "completeTask", "status": 404}]
    appended = [any_store.journal_append("a", entries[0], mark="getTask 200"),
                any_store.journal_append("a", entries[1], mark="getTask 400", keep="violations"),
                any_store.journal_append("a", entries[2], keep="refusals")]
    assert appended == [True] * 3
    numbered = [{"seq": i, **e} for i, e in enumerate(entries, 1)]
    assert (any_store.journal_query("a"), any_store.journal_length("a")) == (numbered, 3)
    assert any_store.journal_tally("a") == {"kept": 3, "tally": {"#": 3, "getTask 200": 1, "getTask 400": 1},
                                            "violations": [numbered[1]], "refusals": [numbered[2]]}
    held = any_store.journal_held("a")
    assert set(held) == {"journal", "violations", "refusals"}
    assert held["journal"] > held["violations"] > 0 and held["refusals"] > 0
    assert any_store.journal_query("b") == [] and any_store.journal_tally("b") is None, "no journal for no session"
    any_store.journal_clear("a")
    assert (any_store.journal_query("a"), any_store.journal_length("a")) == ([], 0)
    assert any_store.journal_tally("a") == {"kept": 0, "tally": {}, "violations": [], "refusals": []}
    assert any_store.journal_held("a") == {"journal": 0, "violations": 0, "refusals": 0}
    any_store.journal_append("a", entries[0])
    assert [e["seq"] for e in any_store.journal_query("a")] == [4], "numbers go on after a clear"


def test_an_entry_may_count_under_several_fields(any_store):
    """The proxy counts one exchange under the client's field and under each way the upstream's answer broke the contract."""
    any_store.open("a")
    any_store.journal_append("a", {"operation": "getTask"}, mark="getTask 200 \ngetTask 200 upstream:response_body")
    any_store.journal_append("a", {"operation": "getTask"}, mark="getTask 200 ")
    assert any_store.journal_tally("a")["tally"] == {"#": 2, "getTask 200 ": 2, "getTask 200 upstream:response_body": 1}


PAD = "x" * 100  # an entry of about 120 bytes as JSON


@pytest.mark.parametrize("options, journal, violations", [
    pytest.param({"journal_size": 3}, [3, 4, 5], [3, 4, 5], id="entries"),
    pytest.param({"journal_bytes": 300}, [4, 5], [4, 5], id="bytes"),
])
def test_each_list_of_the_journal_keeps_its_newest_within_its_bounds(make_store, options, journal, violations):
    store = make_store(**options)
    store.open("a")
    for _ in range(5):
        store.journal_append("a", {"operation": "getTask", "pad": PAD}, mark="getTask 400", keep="violations")
    tally = store.journal_tally("a")
    assert [e["seq"] for e in store.journal_query("a")] == journal and store.journal_length("a") == len(journal)
    assert [e["seq"] for e in tally["violations"]] == violations
    assert (tally["kept"], tally["tally"]) == (len(journal), {"#": 5, "getTask 400": 5}), "every entry counted"
    assert all(0 < n <= store.options.journal_bytes for n in store.journal_held("a").values() if n)


# -- inboxes --
def test_an_inbox_appends_reads_and_clears_by_name(any_store):
    for name, n in (("box1", 1), ("box2", 2), ("box1", 3)):
        any_store.inbox_append(name, {"n": n})
    assert [any_store.inbox_read(name) for name in ("box1", "box2", "box3")] == [[{"n": 1}, {"n": 3}], [{"n": 2}], []]
    assert any_store.inbox_bytes() >= 3 * len('{"n":1}box1')
    any_store.inbox_clear("box1")
    assert (any_store.inbox_read("box1"), any_store.inbox_read("box2")) == ([], [{"n": 2}])


@pytest.mark.parametrize("options, box1, box2", [
    pytest.param({"inbox_bytes": 3 * len('{"n":1}box1')}, [{"n": 3}, {"n": 5}], [{"n": 4}],
                 id="the oldest go first whatever their name"),
    pytest.param({"journal_size": 2}, [{"n": 3}, {"n": 5}], [{"n": 2}, {"n": 4}], id="entries per name"),
])
def test_inboxes_keep_within_their_bounds(make_store, options, box1, box2):
    store = make_store(**options)
    for n in range(1, 6):
        store.inbox_append("box1" if n % 2 else "box2", {"n": n})
    assert (store.inbox_read("box1"), store.inbox_read("box2")) == (box1, box2)
    assert store.inbox_bytes() <= store.options.inbox_bytes


def test_a_live_store_answers(any_store):
    assert any_store.ping() is None


def test_requests_refused_before_any_session_are_counted(any_store):
    assert any_store.unauthenticated() == {}
    for field in ("missing", "invalid", "missing"):
        any_store.count_unauthenticated(field)
    assert any_store.unauthenticated() == {"missing": 2, "invalid": 1}


# -- wake-ups of the senders --
def test_a_commit_says_when_a_sender_should_look(make_store):
    told = []
    store = make_store(on_wake=lambda: told.append(1))
    assert (store.next_wake(), store.woken(1e12)) == (None, [])
    store.run("a", wake, 100.0)
    store.run("b", wake, 200.0)
    assert (store.next_wake(), store.woken(150.0), sorted(store.woken(250.0))) == (100.0, ["a"], ["a", "b"])
    assert len(told) == 2
    store.run("a", wake, None)  # a commit that leaves nothing to send
    assert (store.next_wake(), store.woken(250.0)) == (200.0, ["b"])
    store.delete("b")
    assert (store.next_wake(), store.woken(1e12)) == (None, [])


def test_run_existing_never_makes_a_session(any_store):
    assert any_store.run_existing("a", rename, "changed") is None
    assert any_store.find("a") is None
    any_store.open("a")
    assert any_store.run_existing("a", rename, "changed") == "changed"
    assert any_store.sibling().open("a").get("tasks", TASK).name == "changed"


# -- the session's bound (sandbox/store/base.py check_bound) --
@pytest.mark.parametrize("units, outcomes", [
    pytest.param([2], ["ok"], id="up to the bound"),
    pytest.param([3], ["full"], id="past it at once"),
    pytest.param([1, 1, 1], ["ok", "ok", "full"], id="past it by steps"),
    pytest.param([2, 0], ["ok", "ok"], id="a change of what it holds adds nothing"),
])
def test_a_unit_past_the_sessions_bound_is_refused_whole(make_store, units, outcomes):
    store = make_store(session_records=2)
    made, seen = [], []
    for count in units:
        ids = [f"task_new{len(made) + i}" for i in range(count)] or made[:1]
        try:
            store.run("a", add_tasks, ids)
            made += [i for i in ids if i not in made]
            seen.append("ok")
        except errors.SessionFull:
            seen.append("full")
    state = store.sibling().open("a")
    assert seen == outcomes
    assert (state.own.size, state.version) == (len(made), outcomes.count("ok"))


# -- the timeline's ring (sandbox/domain/timeline.py) --
def statuses(tx, steps: list[str]) -> None:
    for status in steps:
        tx.put("tasks", TASK, replace(tx.task(TASK), status=status))


def test_the_timeline_is_a_ring_outside_the_bound_committed_with_its_change_and_emptied_by_a_reset(
        make_store, monkeypatch):
    from sandbox.domain import timeline
    monkeypatch.setattr(timeline, "SLOTS", 3)
    store = make_store(session_records=1)  # the task is the session's one record of its own
    store.run("a", statuses, ["FAILED", "DISCARDED"])  # one unit, one cause, one time: one change
    for status in ("COMPLETED", "FAILED", "DISCARDED"):
        store.run("a", statuses, [status])
    with pytest.raises(ValueError):
        store.run("a", lambda tx: (statuses(tx, ["COMPLETED"]), int("x")))  # refused whole: nothing noted
    other = store.sibling()  # as another process reads it
    state = other.open("a")
    entries = sorted(other.timeline("a"), key=lambda e: e["seq"])
    assert [(e["seq"], e["from"]["status"], e["to"]["status"]) for e in entries] == [
        (2, "DISCARDED", "COMPLETED"), (3, "COMPLETED", "FAILED"), (4, "FAILED", "DISCARDED")]
    assert (state.own.size, state.timeline_seq) == (1, 4)
    store.reset("a", None)
    state = store.sibling().open("a")
    assert (store.sibling().timeline("a"), state.timeline_seq) == ([], 0)


def test_the_timeline_is_kept_apart_from_the_records_another_process_reads(make_store):
    """A process that follows another's change reads the records that changed, never the history."""
    store = make_store()
    for status in ("FAILED", "DISCARDED", "COMPLETED"):
        store.run("a", statuses, [status])
    state = store.sibling().open("a")
    assert len(store.timeline("a")) == 3
    assert state.own.size == 1 and set(state.own.tables["tasks"]) == {TASK}
    if store.kind != "memory":  # in Redis: never among what is read to follow a change
        assert state.own.tables["timeline"] == {}
