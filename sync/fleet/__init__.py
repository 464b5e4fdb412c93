"""Many accounts on many machines: a fleet of workers on PostgreSQL with procrastinate.

`config` reads the fleet file, `accounts` turns an account into Settings, `schema`
sets up the database, `scheduling` decides which accounts are due, `jobs` holds the
procrastinate app and its tasks, `worker` runs one worker process, `status` reports.
"""
