"""The FastAPI variants: `app` (async def on asyncpg: fastapi-async, fastapi-granian),
`sync_app` (def endpoints on Starlette's thread pool, psycopg: fastapi-sync) and
`psycopg_app` (async def on psycopg's AsyncConnectionPool: fastapi-psycopg)."""
