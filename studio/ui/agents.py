"""How scripts and AI assistants reach the studio: the footer's "Use via API" page and an MCP server.

Kept apart from the rest of the launch options (theme, login, limits) so each stays in one place.

- `footer_links`: Gradio 6's footer shows "Use via API" (every named endpoint, with gradio_client and
  curl snippets), "Built with Gradio" and "Settings".
- `mcp_server`: Gradio serves every public endpoint as a Model Context Protocol tool at
  `/gradio_api/mcp/` (streamable HTTP; `/gradio_api/mcp/sse` for SSE clients), so an assistant can call
  generate, stylize, write and the rest. On by default; `STUDIO_MCP=0` turns it off. With a login
  (`STUDIO_AUTH`) it stays off unless `STUDIO_MCP=1` says so, because MCP clients do not pass the login
  form: whoever reaches the server could use the tools.
"""
from __future__ import annotations

import importlib.util
import os

FOOTER_LINKS = ["api", "gradio", "settings"]


def mcp_enabled(auth) -> bool:
    """Whether to serve MCP: STUDIO_MCP=1/0 decides; unset, on without a login and off with one."""
    wanted = os.environ.get("STUDIO_MCP", "").strip().lower()
    if wanted in ("0", "false", "no", "off"):
        return False
    if wanted not in ("1", "true", "yes", "on") and auth:
        return False
    return importlib.util.find_spec("mcp") is not None  # gradio[mcp] (requirements.txt) brings it


def agent_launch_options(auth) -> dict:
    """Keyword arguments for `demo.launch()`: the footer's links and the MCP server."""
    return {"footer_links": FOOTER_LINKS, "mcp_server": mcp_enabled(auth)}
