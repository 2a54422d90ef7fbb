"""The update state machine: the table itself, and power cuts injected at every step.

Fault cases are a table (Mender style): for each step and each side of it (before the step ran /
after it did its work but before the journal moved on), the process "dies"; a new agent boots from
the same state folder. The previous model must be the one serving, and the next reconcile must
converge to the new model."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tinyfleet import wire
from tinyfleet.agent.agent import Agent
from tinyfleet.agent.reconcile import TRANSITIONS, Journal, Outcome, PowerCut, Step, decide, next_step

STEPS = [Step.DOWNLOAD, Step.VERIFY, Step.INSTALL, Step.LOAD, Step.SELF_TEST, Step.SWAP, Step.CONFIRM]


def test_table_is_total_and_deterministic() -> None:
    pairs = [(t.source, t.outcome) for t in TRANSITIONS]
    assert len(pairs) == len(set(pairs))
    for step in STEPS:
        assert next_step(step, Outcome.OK).target in set(STEPS) | {Step.DONE}
        assert next_step(step, Outcome.FAIL).target in (Step.ROLLBACK, Step.FAILED)
    # the happy path reads like the spec
    chain, step = [], Step.DOWNLOAD
    while step is not Step.DONE:
        chain.append(step)
        step = next_step(step, Outcome.OK).target
    assert chain == STEPS
    # nothing that could have touched the serving model fails without a rollback
    for step in (Step.INSTALL, Step.LOAD, Step.SELF_TEST, Step.SWAP, Step.CONFIRM):
        assert next_step(step, Outcome.FAIL).target is Step.ROLLBACK
    assert next_step(Step.VERIFY, Outcome.RETRY).target is Step.DOWNLOAD
    with pytest.raises(ValueError):
        next_step(Step.DONE, Outcome.OK)


def _desired(sha: str = "a" * 64, dep: str = "d1") -> wire.DesiredState:
    return wire.DesiredState(
        deployment_id=dep,
        issued_at=0,
        model=wire.DesiredModel(name="m", version="1.0.0", sha256=sha, size=10, security_counter=1, url="/x"),
    )


def test_decide() -> None:
    j = Journal()
    assert decide(_desired(), None, j, 3)[0] == "start"
    assert decide(_desired(), "a" * 64, j, 3)[0] == "nothing"
    assert decide(wire.DesiredState(deployment_id="d", issued_at=0), None, j, 3)[0] == "nothing"
    failed = Journal(
        deployment_id="d1",
        target={"sha256": "a" * 64},
        step=Step.ROLLED_BACK,
        attempts=1,
        detail="final:self test failed",
    )
    assert decide(_desired(), None, failed, 3)[0] == "nothing"
    assert decide(_desired(dep="d2"), None, failed, 3)[0] == "start"
    interrupted = Journal(
        deployment_id="d1",
        target={"sha256": "a" * 64},
        step=Step.ROLLED_BACK,
        attempts=2,
        detail="interrupted during swap",
    )
    assert decide(_desired(), None, interrupted, 3)[0] == "start"
    assert decide(_desired(), None, interrupted, 2)[0] == "nothing"


def _serving_version(agent: Agent) -> str | None:
    m = agent.hotswap.active
    if m is None:
        return None
    agent.infer(np.zeros(64, dtype=np.int8))
    return m.version


async def _install_v1(make_config, packages, files) -> Agent:
    agent = Agent(make_config())
    await agent.boot()
    assert await agent.update(packages["v1"].desired(files.base, "dep-v1")) is Step.DONE
    return agent


FAULTS = [(when, step) for step in STEPS for when in ("before", "after")]


@pytest.mark.parametrize(("when", "step"), FAULTS, ids=[f"{w}-{s.value}" for w, s in FAULTS])
def test_power_cut_at_every_step_keeps_previous_model(
    make_config, packages, files, when: str, step: Step
) -> None:
    async def scenario() -> None:
        agent = await _install_v1(make_config, packages, files)
        assert _serving_version(agent) == "1.0.0"

        def cut(w: str, s: Step) -> None:
            if (w, s) == (when, step):
                raise PowerCut(f"{w} {s.value}")

        agent.executor.fault = cut
        with pytest.raises(PowerCut):
            await agent.update(packages["v2"].desired(files.base, "dep-v2"))
        # reboot from the same disk
        rebooted = Agent(make_config())
        await rebooted.boot()
        assert _serving_version(rebooted) == "1.0.0"
        assert rebooted.slots.counter() <= 2
        if (when, step) == ("before", Step.DOWNLOAD):  # died before the journal named the update
            assert rebooted.executor.journal.step is Step.DONE
            assert rebooted.events == []
        else:
            assert rebooted.executor.journal.step is Step.ROLLED_BACK
            assert [e.type for e in rebooted.events] == [wire.EventType.ROLLED_BACK]
        # the retained desired state comes again: the update completes
        assert await rebooted.update(packages["v2"].desired(files.base, "dep-v2")) is Step.DONE
        assert _serving_version(rebooted) == "1.1.0"
        again = Agent(make_config())
        await again.boot()
        assert _serving_version(again) == "1.1.0"

    asyncio.run(scenario())


def test_docs_show_the_table(repo_root) -> None:
    from tinyfleet.agent.reconcile import transition_table_markdown

    assert transition_table_markdown() in (repo_root / "docs" / "agent.md").read_text()


def test_a_corrupted_active_slot_falls_back_to_the_other(make_config, packages, files) -> None:
    async def scenario() -> None:
        agent = await _install_v1(make_config, packages, files)
        assert await agent.update(packages["v2"].desired(files.base, "dep-v2")) is Step.DONE
        active = agent.slots.active()
        assert active is not None
        path = agent.slots.package_path(active)
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF  # a bit rot on disk
        path.write_bytes(bytes(raw))
        rebooted = Agent(make_config())
        await rebooted.boot()
        assert _serving_version(rebooted) == "1.0.0"
        assert rebooted.slots.active() != active
        st = rebooted.state()
        assert {s.slot: s.state for s in st.slots} == {active: "failed", rebooted.slots.active(): "confirmed"}

    asyncio.run(scenario())
