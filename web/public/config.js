// Replaced at serve time (web/scripts/serve.ts writes API_URL here). Served as is, the client uses its default.
window.AGENT_API_URL = window.AGENT_API_URL || undefined;
