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


class CodeDesk(Protocol):
    """Where an agent's keyed disposition goes (ari_app/wrap_up.py)."""

    async def code(self, agent: str, *, digits: str | None = None) -> tuple[Any, bool]: ...


def build_registry(
    node_id: str, agents: AgentControl | None = None, desk: CodeDesk | None = None
) -> AgiRegistry:
    registry = AgiRegistry()

    @registry.route("disposition")
    async def disposition_feature(agi: AgiSession) -> None:
        """``AGI(agi://host/disposition?digits=NN)`` from an agent's own softphone (*55):
        codes the agent's latest call with the code keyed. Sets SB_DISPO_RESULT (ok or
        error), SB_DISPO_CODE and SB_DISPO_ERROR."""
        digits = agi.request.params.get("digits", "")
        name = await agi.get_variable("CHANNEL(endpoint)") or ""
        try:
            if desk is None:
                raise RuntimeError("no dispositions on this node")
            if not digits.isdigit():
                raise ValueError(f"key the code's digits, then # (got {digits!r})")
            result, _ended = await desk.code(name, digits=digits)
        except Exception as exc:  # refused, unknown, database away: the agent hears an error
            message = str(exc.args[0]) if exc.args else type(exc).__name__
            await agi.set_variable("SB_DISPO_RESULT", "error")
            await agi.set_variable("SB_DISPO_ERROR", message[:120].replace('"', "'"))
            return
        await agi.set_variable("SB_DISPO_RESULT", "ok")
        await agi.set_variable("SB_DISPO_CODE", str(result.code))

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
