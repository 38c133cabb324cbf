"""An agent's `tools` map: a name decides, else the last pattern that matches (as the reference turns
the map into rules), else the tool is on."""

from __future__ import annotations

from wakeful.project.agents import Agent


def test_patterns_switch_tools_the_last_match_deciding() -> None:
    agent = Agent("build", tools={"k8s_*": False, "k8s_get_*": True, "bash": False})
    assert not agent.allows("k8s_delete_pod", set())
    assert agent.allows("k8s_get_pods", set())
    assert not agent.allows("bash", set())
    assert agent.allows("read", set())


def test_a_name_wins_over_patterns_and_star_is_a_pattern() -> None:
    agent = Agent("build", tools={"k8s_logs": True, "*": False})
    assert agent.allows("k8s_logs", set())
    assert not agent.allows("k8s_exec", set())


def test_a_read_only_agent_still_needs_read_only_tools() -> None:
    agent = Agent("plan", read_only=True, tools={"k8s_*": True})
    assert agent.allows("k8s_get_pods", {"k8s_get_pods"})
    assert not agent.allows("k8s_delete_pod", {"k8s_get_pods"})
