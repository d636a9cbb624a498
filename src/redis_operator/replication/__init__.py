"""Replication mode: what each pod's Redis says (topology), what to do about it (failover),
and the Redis commands that observe and change it (commands)."""
