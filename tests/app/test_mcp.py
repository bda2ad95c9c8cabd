"""The studio as an MCP server: an assistant lists the public endpoints as tools and calls them.

The session's real app (tests/conftest.py `app`) is launched with `launch_options()`, which turns Gradio's
MCP server on; this test talks to it with the official MCP client over streamable HTTP, as an assistant does.
"""
from __future__ import annotations

import ast

import anyio
import pytest


async def _session(url: str, work):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(url) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)


def mcp_call(app, work):
    return anyio.run(_session, app.local_url.rstrip("/") + "/gradio_api/mcp/", work)


def test_public_endpoints_are_mcp_tools(app):
    async def list_tools(session):
        return (await session.list_tools()).tools

    tools = {t.name: t for t in mcp_call(app, list_tools)}
    endpoints = app.mcp_server_obj.get_tool_to_endpoint()  # tool name (the handler's name) -> endpoint
    assert set(tools) == set(endpoints)
    served = set(endpoints.values())
    for endpoint in ("/models", "/model_info", "/generate", "/stylize", "/write", "/train", "/job_status",
                     "/interpolate", "/reuse_parameters"):
        assert endpoint in served, sorted(served)
    generate = next(tools[name] for name, e in endpoints.items() if e == "/generate")
    assert {"model", "count", "seed"} <= set(generate.inputSchema["properties"])


def test_an_assistant_calls_a_tool_through_mcp(app):
    async def call(session):
        names = [t.name for t in (await session.list_tools()).tools]
        assert "models" in names
        return await session.call_tool("models", {"family": "vae"})

    result = mcp_call(app, call)
    assert not result.isError, result
    text = "".join(getattr(c, "text", "") for c in result.content)
    records = ast.literal_eval(text)  # Gradio returns the endpoint's value as its Python text
    assert "digits-vae" in {r["name"] for r in records}
    assert {r["family"] for r in records} == {"vae"}


def test_mcp_is_off_with_a_login_unless_asked(monkeypatch):
    from studio.ui.agents import agent_launch_options, mcp_enabled

    monkeypatch.delenv("STUDIO_MCP", raising=False)
    assert mcp_enabled(None) and not mcp_enabled(("user", "secret"))
    monkeypatch.setenv("STUDIO_MCP", "1")
    assert mcp_enabled(("user", "secret"))
    monkeypatch.setenv("STUDIO_MCP", "0")
    assert not mcp_enabled(None)
    assert "api" in agent_launch_options(None)["footer_links"]


@pytest.mark.parametrize("path", ["/gradio_api/mcp/schema"])
def test_the_mcp_schema_lists_the_tools_for_hub_clients(app, path):
    import httpx

    schema = httpx.get(app.local_url.rstrip("/") + path, timeout=60).json()
    names = [tool["name"] for tool in schema]
    assert "models" in names and "write_api" in names, names


def test_the_footer_shows_use_via_api(app):
    """Gradio 6 `footer_links`, not CSS: the served config asks the page for the API link."""
    import httpx

    config = httpx.get(app.local_url.rstrip("/") + "/config", timeout=60).json()
    assert "api" in config["footer_links"]
    assert "footer" not in str(config.get("css") or "")  # nothing hides the footer any more
