"""`python -m bench.moto_keepalive`: moto's server application behind uvicorn, with keep-alive.

moto's own server (werkzeug's development server) closes the connection after every response,
so each boto3 call would pay a new TCP connection (a connect, a socket, a dropped-connection
retry in urllib3) that AWS's endpoints, which keep connections alive, do not make it pay.
The application is moto's (`DomainDispatcherApplication`, as `python -m moto.server` serves it);
only the HTTP server differs. Prints `READY <url>` once listening on a free port of 127.0.0.1.
"""

from __future__ import annotations

import asyncio

import uvicorn
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from uvicorn.middleware.wsgi import WSGIMiddleware


async def _serve() -> None:
    app = DomainDispatcherApplication(create_backend_app)
    config = uvicorn.Config(WSGIMiddleware(app, workers=8), host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"READY http://127.0.0.1:{port}", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(_serve())
