"""FastAPI + asyncpg variant (fastapi-async on uvicorn workers)."""
