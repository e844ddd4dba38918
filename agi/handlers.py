"""The FastAGI scripts Switchboard answers."""

from __future__ import annotations

from typing import Any, Protocol

from agi.server import AgiRegistry, AgiSession


class AgentControl(Protocol):
    """What the feature codes change (the ACD); each raises on a refused change."""

    def login(self, name: str, paused_reason: str | None = None) -> Any: ...
    def logout(self, name: str) -> Any: ...
    def pause(self, name: str, reason: str) -> Any: ...
    def resume(self, name: str) -> Any: ...


def build_registry(node_id: str, agents: AgentControl | None = None) -> AgiRegistry:
    registry = AgiRegistry()

    @registry.route("agent")
    async def agent_feature(agi: AgiSession) -> None:
        """``AGI(agi://host/agent?action=login|logout|pause|resume)`` from an agent's own
        softphone: the agent is the authenticated PJSIP endpoint, never a parameter.
        Sets SB_AGENT_RESULT (ok or error), SB_AGENT_STATE and SB_AGENT_ERROR."""
        action = agi.request.params.get("action", "")
        name = await agi.get_variable("CHANNEL(endpoint)") or ""
        try:
            if agents is None:
                raise RuntimeError("no ACD on this node")
            if action == "login":
                agent = agents.login(name)
            elif action == "logout":
                agent = agents.logout(name)
            elif action == "pause":
                agent = agents.pause(name, "feature code")
            elif action == "resume":
                agent = agents.resume(name)
            else:
                raise ValueError(f"unknown action {action!r}")
        except (KeyError, ValueError, RuntimeError) as exc:
            message = str(exc.args[0]) if exc.args else str(exc)
            await agi.set_variable("SB_AGENT_RESULT", "error")
            await agi.set_variable("SB_AGENT_ERROR", message[:120].replace('"', "'"))
            return
        await agi.set_variable("SB_AGENT_RESULT", "ok")
        await agi.set_variable("SB_AGENT_STATE", str(agent.state.value))

    @registry.route("health")
    async def health(agi: AgiSession) -> None:
        """``AGI(agi://host/health)``: proves dialplan reaches us; sets SB_AGI and SB_NODE."""
        await agi.set_variable("SB_AGI", "ok")
        await agi.set_variable("SB_NODE", node_id)
        echo = agi.request.params.get("echo")
        if echo is not None:
            await agi.set_variable("SB_ECHO", echo)

    return registry
