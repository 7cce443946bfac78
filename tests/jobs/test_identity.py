"""Who holds a lease: host and process."""

from worker.jobs.identity import worker_id


def test_worker_id_names_host_and_process():
    host, pid = worker_id().rsplit(":", 1)
    assert host and pid.isdigit()
