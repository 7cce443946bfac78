"""Reading the kernel's count of OOM kills from cgroup v1 and v2 layouts."""

from pathlib import Path

from worker.jobs.oom import oom_kills


def layout(tmp_path: Path, cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc = tmp_path / "proc-cgroup"
    proc.write_text(cgroup)
    return root, proc


def test_cgroup_v2_memory_events(tmp_path: Path) -> None:
    events = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n"
    root, proc = layout(tmp_path, "0::/user.slice/app\n", {"user.slice/app/memory.events": events})
    assert oom_kills(root, proc) == 2


def test_cgroup_v1_oom_control_at_the_namespace_root(tmp_path: Path) -> None:
    """Inside a cgroup namespace the own group's path may not exist under the mount."""
    control = "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n"
    cgroup = "4:memory:/process_api/abc\n0::/\n"
    root, proc = layout(tmp_path, cgroup, {"memory/memory.oom_control": control})
    assert oom_kills(root, proc) == 7


def test_nothing_readable_says_nothing(tmp_path: Path) -> None:
    root, proc = layout(tmp_path, "0::/\n", {})
    assert oom_kills(root, proc) is None
    assert oom_kills(root, tmp_path / "no-such-file") is None
