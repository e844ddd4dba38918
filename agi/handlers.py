"""The FastAGI scripts Switchboard answers."""

from __future__ import annotations

from agi.server import AgiRegistry, AgiSession


def build_registry(node_id: str) -> AgiRegistry:
    registry = AgiRegistry()

    @registry.route("health")
    async def health(agi: AgiSession) -> None:
        """``AGI(agi://host/health)``: proves dialplan reaches us; sets SB_AGI and SB_NODE."""
        await agi.set_variable("SB_AGI", "ok")
        await agi.set_variable("SB_NODE", node_id)
        echo = agi.request.params.get("echo")
        if echo is not None:
            await agi.set_variable("SB_ECHO", echo)

    return registry
