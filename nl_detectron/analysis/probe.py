"""
A linear probe: how well a linear classifier, fit on half of a set of feature vectors, tells
their labels on the other half. It asks whether features separate a property (an object's shape,
a colour) at all, not whether the model uses them.
"""

import torch


def linear_probe(features, labels, *, train_fraction=0.5, weight_decay=1e-3, steps=200, seed=0):
    """
    Args:
        features: (M, D) float; labels: (M,) int in [0, K).
        train_fraction: the share of the M rows (a seeded random split) the classifier is fit on.
    Returns:
        (held-out accuracy, the held-out share of its most frequent training label): the probe
        and what predicting one label gets.
    """
    features, labels = features.double(), torch.as_tensor(labels, dtype=torch.long)
    if len(features) != len(labels) or len(labels) < 4:
        raise ValueError(f"need as many labels as rows, 4 at least: {len(features)}, {len(labels)}")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    split = int(len(labels) * train_fraction)
    train, test = order[:split], order[split:]
    mean, std = features[train].mean(0), features[train].std(0).clamp_min(1e-6)
    x = (features - mean) / std
    num_classes = int(labels.max()) + 1
    linear = torch.nn.Linear(x.shape[1], num_classes).double()
    optimizer = torch.optim.LBFGS(
        linear.parameters(), max_iter=steps, line_search_fn="strong_wolfe"
    )

    def loss():
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(linear(x[train]), labels[train])
        value = value + weight_decay * linear.weight.square().sum()
        value.backward()
        return value

    optimizer.step(loss)
    with torch.no_grad():
        accuracy = (linear(x[test]).argmax(1) == labels[test]).double().mean().item()
    majority = torch.bincount(labels[train], minlength=num_classes).argmax()
    return accuracy, (labels[test] == majority).double().mean().item()
