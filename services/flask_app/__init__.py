"""Flask + psycopg 3 variant (flask-sync on gthread workers, flask-gevent on gevent workers,
flask-granian on granian's WSGI interface)."""
