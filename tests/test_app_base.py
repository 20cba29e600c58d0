"""The App base: a value a control cannot take is refused with a message and the control
keeps its value; a move whose computation fails goes back to the last good value."""

import ipywidgets as W
import pytest

from ntk_explore.widgets._app import App


class Demo(App):
    def __init__(self):
        self.lr = W.FloatSlider(value=0.1, min=0.001, max=1.0, description="lr")
        self.width = W.SelectionSlider(options=[16, 64, 256], value=64, description="width")
        self.log = W.FloatLogSlider(value=1.0, min=-2, max=2, description="alpha")
        self.runs = 0
        self._wire((self.lr, self.width, self.log))
        self.update()

    def update(self):
        if self.lr.value > 0.9:
            raise ValueError("learning rate 0.95 diverges for this kernel")
        self.runs += 1
        self.readout.value = f"lr {self.lr.value}, width {self.width.value}, alpha {self.log.value}"


def test_out_of_range_values_are_refused_not_clamped():
    app = Demo()
    app.lr.value = 5.0
    assert app.lr.value == 0.1 and app.runs == 1
    assert "lr cannot be 5.0: it must be [0.001, 1.0]; kept 0.1" in app.readout.value
    app.width.value = 100
    assert app.width.value == 64 and "one of [16, 64, 256]" in app.message
    app.log.value = 1000.0
    assert app.log.value == 1.0 and "[0.01, 100]" in app.message
    app.width.value = 256  # a good move clears the message
    assert app.message == "" and app.readout.value == "lr 0.1, width 256, alpha 1.0"


def test_a_failed_move_goes_back_to_the_last_good_value():
    app = Demo()
    app.lr.value = 0.95
    assert app.lr.value == 0.1 and app.runs == 1
    assert "lr = 0.95 cannot run: learning rate 0.95 diverges" in app.message
    assert "back to 0.1" in app.readout.value and "lr 0.1, width 64" in app.readout.value


def test_bugs_still_propagate():
    class Broken(Demo):
        def update(self):
            if self.lr.value > 0.5:
                raise KeyError("a bug")
            super().update()

    app = Broken()
    with pytest.raises(KeyError):
        app.lr.value = 0.6


def test_rewarm_runs_the_apps_warm_up_jobs_again_in_the_background():
    class Warm(Demo):
        def __init__(self):
            self.warmed = []
            super().__init__()
            self._warmup = self.warm_up(self._warmup_jobs())

        def _warmup_jobs(self):
            return [lambda: self.warmed.append(self.width.value)]

    app = Warm()
    app._warmup.join(timeout=30)
    app.width.value = 256
    app.rewarm()  # what a notebook calls after jax.clear_caches()
    app._warmup.join(timeout=30)
    assert app.warmed == [64, 256]
    assert Demo()._warmup_jobs() == []  # an app without jobs warms nothing
