"""The linear probe on features whose answer is known."""

import pytest
import torch

from nl_detectron.analysis.probe import linear_probe


def test_a_linearly_separable_property_is_found():
    torch.manual_seed(0)
    labels = torch.randint(0, 3, (300,))
    features = torch.randn(300, 16) + 4.0 * torch.nn.functional.one_hot(labels, 16)
    accuracy, majority = linear_probe(features, labels)
    assert accuracy > 0.95 and majority < 0.5


def test_a_property_the_features_do_not_hold_stays_near_its_majority():
    torch.manual_seed(0)
    features, labels = torch.randn(400, 16), torch.randint(0, 2, (400,))
    accuracy, majority = linear_probe(features, labels)
    assert abs(accuracy - majority) < 0.12


def test_too_few_rows_are_refused_naming_the_counts():
    with pytest.raises(ValueError, match="3, 3"):
        linear_probe(torch.zeros(3, 2), [0, 1, 0])
