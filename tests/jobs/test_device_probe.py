"""Workers report their devices from a child process; the CPU is always there."""

from worker.jobs.device_probe import probe


def test_probe_reports_the_cpu():
    devices = probe()
    cpu = [d for d in devices if d["kind"] == "cpu"]
    assert cpu and cpu[0]["cores"] >= 1 and cpu[0]["memory_total"] > 0
