"""How project 05 is served: gunicorn with uvicorn workers, draining on SIGTERM."""
