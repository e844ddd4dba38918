"""The HTTP API's roles and what each may do (docs/api.md): plain logic, no web framework.

Three roles:

- **operator** (``SWITCHBOARD_API_TOKEN``, the CLI's token, and operator credentials):
  everything.
- **supervisor**: reads everything (state, any agent, the wallboard, metrics), changes any
  agent's state, codes any call, and joins calls as themselves only.
- **agent**: only their own agent (state, events, call actions, dispositions, codes,
  preview dialing); nothing else.

"Own" means the agent the credential names (``--agent``); an agent credential that names
none acts as the agent of its own name. A supervisor or operator credential without
``--agent`` has no own agent (a supervisor's name is not an agent's, even when it reads like
one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    OPERATOR = "operator"


class Action(StrEnum):
    """What a request does; each API route is one of these."""

    STATE = "state"  # GET /api/state: every agent and queue
    WALLBOARD = "wallboard"  # GET /api/wallboard, /api/wallboard/events
    METRICS = "metrics"  # GET /metrics
    AGENT_READ = "agent.read"  # GET /api/agents/{name}, .../events
    AGENT_STATE = "agent.state"  # POST /api/agents/{name}/login|logout|pause|resume
    CALL_CONTROL = "call.control"  # POST /api/agents/{name}/call/hold|unhold|transfer|...
    DISPOSITION = "disposition"  # POST .../disposition, GET .../codes
    PREVIEW = "preview"  # GET .../preview, POST .../preview/dial|skip
    SUPERVISE = "supervise"  # POST /api/supervisors/{name}/join
    PHONE = "phone"  # GET|POST /api/agents/{name}/phone: the browser phone's account
    CONSOLE = "console"  # GET /api/console(/events), POST /api/queues/{q}/calls/{id}/move
    RECORDS = "records"  # GET /api/calls, /api/segments, /api/dispositions, /api/recordings


class Scope(StrEnum):
    ANY = "any"  # any agent (or no agent at all)
    OWN = "own"  # only the principal's own agent
    NONE = "none"


# Operators may do everything; the other two roles, action by action.
RULES: dict[Action, dict[Role, Scope]] = {
    Action.STATE: {Role.SUPERVISOR: Scope.ANY, Role.AGENT: Scope.NONE},
    Action.WALLBOARD: {Role.SUPERVISOR: Scope.ANY, Role.AGENT: Scope.NONE},
    Action.METRICS: {Role.SUPERVISOR: Scope.ANY, Role.AGENT: Scope.NONE},
    Action.AGENT_READ: {Role.SUPERVISOR: Scope.ANY, Role.AGENT: Scope.OWN},
    Action.AGENT_STATE: {Role.SUPERVISOR: Scope.ANY, Role.AGENT: Scope.OWN},
    Action.CALL_CONTROL: {Role.SUPERVISOR: Scope.OWN, Role.AGENT: Scope.OWN},
    Action.DISPOSITION: {Role.SUPERVISOR: Scope.ANY, Role.AGENT: Scope.OWN},
    Action.PREVIEW: {Role.SUPERVISOR: Scope.OWN, Role.AGENT: Scope.OWN},
    Action.SUPERVISE: {Role.SUPERVISOR: Scope.OWN, Role.AGENT: Scope.NONE},
    Action.CONSOLE: {Role.SUPERVISOR: Scope.ANY, Role.AGENT: Scope.NONE},
    # Every call's numbers, notes and voices: not an agent's to browse.
    Action.RECORDS: {Role.SUPERVISOR: Scope.ANY, Role.AGENT: Scope.NONE},
    # Holds the SIP password: only the agent themselves (and operators).
    Action.PHONE: {Role.SUPERVISOR: Scope.OWN, Role.AGENT: Scope.OWN},
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: a credential's name, its role, and the agent it belongs to (if any)."""

    name: str
    role: Role
    agent: str | None = None

    @property
    def own_agent(self) -> str | None:
        """The agent this principal acts as: the one the credential names; for an agent
        credential naming none, its name; otherwise none."""
        if self.agent:
            return self.agent
        return self.name if self.role is Role.AGENT else None


OPERATOR = Principal("operator", Role.OPERATOR)


def scope(role: Role, action: Action) -> Scope:
    if role is Role.OPERATOR:
        return Scope.ANY
    return RULES[action][role]


def refusal(principal: Principal, action: Action, target_agent: str | None) -> str | None:
    """Why ``principal`` may not do ``action`` on ``target_agent`` (None: allowed).

    ``target_agent`` is the agent named in the route (for /api/supervisors/{name}/join, the
    supervisor who joins); None for routes about no agent.
    """
    granted = scope(principal.role, action)
    if granted is Scope.ANY:
        return None
    who = f"the {principal.role.value} credential {principal.name!r}"
    if granted is Scope.NONE:
        return f"{who} may not use {action.value}"
    own = principal.own_agent
    if target_agent is not None and target_agent == own:
        return None
    if own is None:
        return (
            f"{who} acts as no agent, so may not use {action.value}: "
            "its credential needs --agent (the agent account of its softphone)"
        )
    if action is Action.SUPERVISE:
        return f"{who} joins calls only as itself: /api/supervisors/{own}/join"
    return f"{who} may use {action.value} only for agent {own!r}"


def allowed(principal: Principal, action: Action, target_agent: str | None) -> bool:
    """May ``principal`` do ``action`` on ``target_agent``?"""
    return refusal(principal, action, target_agent) is None


def must_own_call(principal: Principal, action: Action) -> bool:
    """An agent who names a call to code must have handled it (checked against the
    record); supervisors and operators code any call."""
    return action is Action.DISPOSITION and principal.role is Role.AGENT
