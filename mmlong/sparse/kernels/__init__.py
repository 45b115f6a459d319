"""Sparse attention kernels: ``reference`` (exact, token masks), ``gather_sdpa`` (fast CPU), ``flex`` (optional)."""
