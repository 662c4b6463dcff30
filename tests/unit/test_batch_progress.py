"""What ``tmm-batch run`` shows while it runs: the ETA arithmetic, the figures' wording, the
meter's counting, and the bar or log lines each kind of stderr gets."""

from __future__ import annotations

import io
import logging

import pytest

from pipelines.progress import RunMeter, Snapshot, duration, eta_s, line, show_progress

pytestmark = pytest.mark.unit


def snap(**kw: float) -> Snapshot:
    base: dict[str, float] = dict(episodes_total=10, episodes_done=0, failed=0,
                                  audio_known=10, audio_s_total=36_000.0, audio_s_done=0.0,
                                  elapsed_s=0.0)  # fmt: skip
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_eta_follows_the_audio_when_every_length_is_known() -> None:
    # 2 of 10 episodes done, but they held 1 of the 10 hours: 9 hours left at 1 h per 600 s.
    s = snap(episodes_done=2, audio_s_done=3600.0, elapsed_s=600.0)
    assert eta_s(s) == pytest.approx(5400.0)


def test_eta_falls_back_to_episodes_when_a_length_is_unknown() -> None:
    s = snap(episodes_done=2, audio_known=9, audio_s_done=3600.0, elapsed_s=600.0)
    assert eta_s(s) == pytest.approx(2400.0)  # 8 episodes left at 300 s each


def test_eta_is_unknown_before_anything_finished_and_zero_at_the_end() -> None:
    assert eta_s(snap(elapsed_s=30.0)) is None
    assert eta_s(snap()) is None
    assert eta_s(snap(episodes_done=10, elapsed_s=5.0)) == 0.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "?"), (0.4, "0s"), (45, "45s"), (725, "12m05s"), (11_040, "3h04m"), (-3, "0s")],
)
def test_durations_read_as_a_clock(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_the_line_names_episodes_audio_rate_and_eta() -> None:
    s = snap(episodes_done=2, failed=1, audio_s_done=3600.0, elapsed_s=600.0)
    assert line(s) == ("2/10 episodes (20%) · 1 failed · audio 1.0/10.0 h · "
                       "0.2 episodes/min, 6.0x real time · ETA 1h30m · elapsed 10m00s")  # fmt: skip


def test_a_small_run_shows_hundredths_of_an_hour_and_which_lengths_are_known() -> None:
    s = snap(episodes_total=3, episodes_done=0, audio_known=2, audio_s_total=240.0)
    assert line(s) == ("0/3 episodes (0%) · audio 0.00/0.07 h (length known for 2) · ETA ? · "
                       "elapsed 0s")  # fmt: skip


def test_the_meter_counts_from_the_first_planned_episode() -> None:
    clock = Clock()
    meter = RunMeter(clock)
    clock.now += 50  # triage and holds are not part of the rate
    meter.planned([120.0, None, 60.0])
    clock.now += 30
    meter.finished(120.0, failed=False)
    meter.finished(None, failed=True)
    meter.planned([30.0])  # a catch-up round
    s = meter.snapshot()
    assert s == Snapshot(episodes_total=4, episodes_done=2, failed=1, audio_known=3,
                         audio_s_total=210.0, audio_s_done=120.0, elapsed_s=30.0)  # fmt: skip
    assert not s.audio_complete


def test_a_log_gets_a_last_line_when_the_run_ends(caplog: pytest.LogCaptureFixture) -> None:
    meter = RunMeter()
    printed = io.StringIO()
    with (
        caplog.at_level(logging.INFO, logger="pipelines.progress"),
        show_progress(meter, tty=False, interval_s=3600, out=printed) as echo,
    ):
        meter.planned([60.0, 60.0])
        meter.finished(60.0, failed=False)
        meter.finished(60.0, failed=False)
        echo("[   2/2] done   an episode")
    assert printed.getvalue() == "[   2/2] done   an episode\n"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("batch run progress: 2/2 episodes (100%)")
    assert "audio 0.03/0.03 h" in lines[0] and "ETA 0s" in lines[0]


def test_a_run_that_planned_nothing_logs_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="pipelines.progress"),
        show_progress(RunMeter(), tty=False, interval_s=3600),
    ):
        pass
    assert not caplog.records


def test_a_terminal_gets_a_bar_of_episodes() -> None:
    meter = RunMeter()
    screen = io.StringIO()
    with show_progress(meter, tty=True, out=screen):
        meter.planned([3600.0, 3600.0, 3600.0, 3600.0])
        meter.finished(3600.0, failed=False)
    drawn = screen.getvalue()
    assert "batch run  25%|" in drawn and "1/4 episodes · audio 1.00/4.00 h" in drawn
