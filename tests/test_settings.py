"""Typed settings: misspelt keys refused naming the closest valid one; types checked."""

import dataclasses

import numpy as np
import pytest

from ntk_explore.core.settings import Settings, require


@dataclasses.dataclass(frozen=True)
class Demo(Settings):
    width: int = 256
    n_val: int = 500
    lr: float = 0.1
    kind: str = "entk"

    def check(self):
        require(self.width >= 1, "width", self.width, "an integer >= 1")


def test_misspelt_key_names_the_closest_valid_one():
    with pytest.raises(ValueError, match=r"unknown Demo key\(s\) 'widht' \(did you mean 'width'\?\); "
                                         r"the valid keys are \['kind', 'lr', 'n_val', 'width'\]"):
        Demo.make(widht=4)
    with pytest.raises(ValueError, match=r"'n_valid' \(did you mean 'n_val'\?\)"):
        Demo().replace(n_valid=500)


def test_types_and_rules():
    assert Demo.make(width=np.int64(8), lr=1).lr == 1.0 and isinstance(Demo.make(lr=1).lr, float)
    with pytest.raises(TypeError, match=r"Demo.width must be int, got float 2.5"):
        Demo.make(width=2.5)
    with pytest.raises(ValueError, match=r"^width must be an integer >= 1, got 0"):
        Demo.make(width=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Demo().width = 3
