"""The platform's agents: what each does, its tools and its default limits."""

from fastapi import APIRouter, Depends

from agent_runtime.agents import AGENTS
from agent_runtime.api.deps import Services, authenticate
from agent_runtime.api.errors import error_responses
from agent_runtime.api.schemas import AgentsView, AgentView, ToolView
from lambda_tools.catalog import get_tool

router = APIRouter(tags=["agents"], dependencies=[Depends(authenticate)])


@router.get("/v1/agents", response_model=AgentsView, responses=error_responses(401, 429))
async def list_agents(services: Services) -> AgentsView:
    """The platform's agents, with their tools and default limits. In AWS each service runs one agent
    and the load balancer sends this path to one of them, so the others are listed from their specs."""
    served = services.agents
    out = []
    for name in sorted({*served, *AGENTS}):
        if name in served:
            spec, specs = served[name].spec, [t.spec for t in served[name].tools.values()]
        else:
            spec = AGENTS[name]
            specs = [get_tool(tool) for tool in spec.tools]
        tools = [ToolView(name=s.name, description=s.description, sensitive=s.sensitive) for s in specs]
        if name not in served:  # its MCP tools as declared (their descriptions are known where it runs)
            tools += [ToolView(name=tool, description=f"a tool of MCP server {server.name!r}",
                               sensitive=tool in server.sensitive)
                      for server in spec.mcp_servers for tool in server.tools]
        out.append(AgentView(name=name, description=spec.description, tools=tools,
                             limits=spec.limits.model_dump()))
    return AgentsView(agents=out)
