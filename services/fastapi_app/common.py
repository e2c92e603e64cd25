"""What the three FastAPI apps share: how the app is built and how every error is answered.

The apps differ only in their concurrency model and driver (asyncpg, psycopg on Starlette's
thread pool, psycopg's async pool); the construction, the JSON error bodies and the status
codes are this module's, so the variants cannot drift apart on them. Validation, serializers
and error bodies come from services/common, as on Flask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.errors import ApiError, error_body, status_message

log = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    lifespan: Lifespan, *, database_unavailable: tuple[type[BaseException], ...]
) -> FastAPI:
    """A FastAPI app with the lab's error handling; `database_unavailable` are the driver's
    exceptions for a restarted or unreachable database (answered 503)."""
    app = FastAPI(
        lifespan=lifespan,
        # Flask serves none of these; leaving them on would make the variants answer
        # differently for the same request.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for error in database_unavailable:
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


async def state_pool(request: Request) -> Any:
    """The dependency handing endpoints the worker's pool (opened by the app's lifespan).
    `async def`: it does no I/O, so it runs on the event loop, not on a thread."""
    return request.app.state.pool


async def raw_body(request: Request) -> bytes:
    """The request body as bytes, for the shared order parser: a malformed order is the
    same 400 as on Flask, never FastAPI's 422 (which a pydantic model or Body() would give)."""
    return await request.body()


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(exc.message), status_code=exc.status)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Unknown routes and wrong methods answer in JSON, with Flask's status codes."""
    return JSONResponse(
        error_body(status_message(exc.status_code)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Parameters are declared as plain strings and validated by the shared parsers, so this
    # is a backstop; it keeps FastAPI's 422 from ever reaching a client.
    return JSONResponse(error_body("invalid request"), status_code=400)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A restarted or unreachable database: 503, as /healthz says (and as the Flask variants
    # answer), so a load test counts an outage rather than a crash.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(error_body("database unavailable"), status_code=503)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal server error"), status_code=500)
