"""
What tools read of a block of the family: its normalised attention weights f(x_i, x_j) / C(x)
for chosen queries i over its key positions j, its key grid, and what kind of map it is. Every
block derives from ``AttentionBlock`` and implements ``query_weights`` and ``key_grid``; the
query checks and the chunking are written here, once. The viewer, the attention statistics and
the relational attention measure read blocks through this interface only.
"""

import math

import torch
from torch import nn

from . import nonlocal_ops


class Attention:
    """
    A block's attention on one input, its embeddings computed once (``AttentionBlock.attention``):
    weights for any queries, a bounded chunk of queries at a time.
    """

    def __init__(self, weights_of, grid, key_grid, num_maps, device):
        """
        Args:
            weights_of: flat query indices (K,) -> their weights (N, K, S).
            grid: (H, W) of the queries; key_grid: (H', W') of the S key positions.
            num_maps (int): N, the input's batch.
        """
        self._weights_of = weights_of
        self.grid, self.key_grid = tuple(grid), tuple(key_grid)
        self.num_keys = math.prod(self.key_grid)
        self.num_maps = num_maps
        self.device = device

    def flat_index(self, queries):
        """(K, 2) integer (row, column) positions -> (K,) flat indices, refused outside the grid."""
        queries = torch.as_tensor(queries, dtype=torch.long, device=self.device).reshape(-1, 2)
        h, w = self.grid
        if ((queries < 0) | (queries >= torch.tensor([h, w], device=self.device))).any():
            raise ValueError(f"query positions {queries.tolist()} outside the {h}x{w} grid")
        return queries[:, 0] * w + queries[:, 1]

    def chunks(self, index=None):
        """
        Yields (start, weights (N, k, S)) for consecutive chunks of ``index`` (flat query
        indices; None for every position), k bounded so that N * k * S is at most
        ``nonlocal_ops.CHUNK_ELEMENTS``, the bound of the block's own kernels.
        """
        if index is None:
            index = torch.arange(math.prod(self.grid), device=self.device)
        chunk = max(1, nonlocal_ops.CHUNK_ELEMENTS // max(1, self.num_maps * self.num_keys))
        for start in range(0, len(index), chunk):
            yield start, self._weights_of(index[start : start + chunk])

    def rows(self, queries):
        """(N, K, S): the weights of the (K, 2) query positions over the S key positions."""
        parts = [weights for _, weights in self.chunks(self.flat_index(queries))]
        if not parts:
            return torch.zeros(self.num_maps, 0, self.num_keys, device=self.device)
        return torch.cat(parts, dim=1)

    def map(self, queries):
        """(N, K, H', W'): ``rows`` on the key grid."""
        rows = self.rows(queries)
        return rows.reshape(self.num_maps, rows.shape[1], *self.key_grid)


class AttentionBlock(nn.Module):
    """
    The base of every block of the family: the analysis interface.

    A block sets, as attributes:
        softmax_weights (bool): each query's weights are a softmax (they sum to 1; entropy is
            defined);
        signed (bool): weights can be negative (dot product);
        query_independent (bool): one map for every query (GC, SNL);
        label (str): what a viewer's panel calls it, in a few words;
    and implements ``key_grid`` and ``query_weights``; ``query_independent_terms`` where its
    attention adds a term that is one map for every query (DNL's unary term).
    """

    softmax_weights = True
    signed = False
    query_independent = False
    label = ""

    def check_input(self, x):
        """Refuse, naming both shapes, an ``x`` that is not (N, C, H, W) with the block's C."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} takes an (N, {self.in_channels}, H, W) tensor, got "
                f"shape {tuple(x.shape)}"
            )

    def key_grid(self, h, w):
        """(H', W') of the key positions j for an (H, W) input."""
        raise NotImplementedError

    def query_weights(self, x):
        """
        The embeddings of ``x`` (N, C, H, W) computed once, and a function of flat query
        indices (K,) to their normalised weights (N, K, S) over the S key positions.
        """
        raise NotImplementedError

    def query_independent_terms(self, x):
        """
        Returns:
            list of (name, label, weights (N, S)): terms of the attention that are the same for
            every query, shown beside the query's map; none by default.
        """
        return []

    @torch.no_grad()
    def attention(self, x):
        """
        Args:
            x: (N, C, H, W) the block's input.
        Returns:
            Attention: the weights of any queries of x's grid, embedded once.
        """
        self.check_input(x)
        h, w = x.shape[-2:]
        return Attention(self.query_weights(x), (h, w), self.key_grid(h, w), x.shape[0], x.device)

    @torch.no_grad()
    def attention_map(self, x, queries):
        """
        The normalised weights of chosen query positions i over all key positions j, computed
        for those queries only (no (N, N) matrix).

        Args:
            x: (N, C, H, W) the block's input.
            queries: (K, 2) integer (row, column) positions in x's grid.
        Returns:
            (N, K, H', W'): H' x W' is ``key_grid(H, W)``.
        """
        return self.attention(x).map(queries)
