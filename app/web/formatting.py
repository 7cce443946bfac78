"""How numbers, sizes, times and states read on the pages (static/js/format.js says the same
for what the scripts update; the states' tones it takes from here, see `state_vocabulary`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from app.store.states import FINISHED_RUN_STATES, DatasetState, PrepState, RunState

# One tone per meaning; static/css/studio.css gives each tone its colour.
STATE_TONES: dict[str, str] = {
    DatasetState.READY: "good",
    RunState.SUCCEEDED: "good",
    RunState.RUNNING: "busy",
    DatasetState.INSPECTING: "busy",
    RunState.PREPARING: "busy",
    RunState.QUEUED: "waiting",
    RunState.FAILED: "bad",
    RunState.CANCELLED: "quiet",
    RunState.PRUNED: "quiet",
}
assert set(STATE_TONES) >= {*RunState, *DatasetState, *PrepState}, "a state without a tone"


def state_tone(state: str | None) -> str:
    return STATE_TONES.get(state or "", "quiet")


def state_vocabulary() -> dict[str, Any]:
    """What every page hands its scripts about states (base.html, read by format.js)."""
    return {
        "tones": {str(state): tone for state, tone in STATE_TONES.items()},
        "finished": [str(state) for state in FINISHED_RUN_STATES],
    }


def human_bytes(value: int | float | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def number(value: int | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def loss(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def bpc(value: float | None) -> str:
    """Bits per character: three decimals, as the run page has always shown them."""
    return "—" if value is None else f"{value:.3f}"


# The two units a val loss is shown in (static/js/format.js has the same table).
UNIT_LABELS = {"loss": "nats / token", "bpc": "bits / char"}


def loss_unit(runs: Iterable[Mapping[str, Any]]) -> str:
    """How runs side by side compare: 'bpc' (bits per character) when their tokenizers
    differ, since a loss per token of one tokenizer says nothing about another's; else
    'loss' (nats per token). format.js `lossUnit` says the same for the scripts."""
    return "bpc" if len({r["tokenizer"] for r in runs}) > 1 else "loss"


def best_val(run: Mapping[str, Any], unit: str) -> str:
    """A run's best val loss in `unit` (a `loss_unit`), as a table cell shows it."""
    return bpc(run["best_val_bpc"]) if unit == "bpc" else loss(run["best_val_loss"])


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def when(value: str | datetime | None) -> str:
    """An absolute UTC time; the scripts turn it into "3 min ago" where there is a <time>."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


_VISIBLE = {"\n": "↵", " ": "␣", "\t": "⇥", "\r": "␍"}


def vocab_char(ch: str) -> str:
    """A vocabulary character as it can be seen: whitespace and controls get a symbol."""
    if ch in _VISIBLE:
        return _VISIBLE[ch]
    if not ch.isprintable():
        return f"U+{ord(ch):04X}"
    return ch


def codepoint(ch: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in ch)
