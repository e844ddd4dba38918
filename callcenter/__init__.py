"""The call-center logic, no I/O: IVR walking (ivr), agents, queues and routing (acd), call
records, journeys and dispositions (calls), outbound rules and pacing (outbound), metrics
and staffing maths (reports), credentials and toll-fraud rules (security), and the settings
every layer reads (config). Everything else is built over it; it imports nothing of ours
from outside this folder."""
