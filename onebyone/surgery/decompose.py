"""Low-rank factorisation of single layers into plain torch layers.

A k×k conv weight W (C_out, C_in, kh, kw) is approximated by a Tucker-2 decomposition
(Kim et al., "Compression of Deep Convolutional Neural Networks for Fast and Low Power Mobile
Applications", ICLR 2016): W ≈ core ×₀ U_out ×₁ U_in, which runs as three convs,
1×1 (C_in→r_in) → k×k (r_in→r_out, the original stride/padding/dilation) → 1×1 (r_out→C_out).
The factors start from the HOSVD (leading left singular vectors of the mode-0 and mode-1
unfoldings) and can be refined by HOOI (De Lathauwer et al., SIAM J. Matrix Anal. Appl. 2000).
A 1×1 conv or a linear layer, a matrix W (C_out, C_in), is cut by the truncated SVD into two
thin layers. The bias always moves to the last layer; the earlier ones have none, so zero
padding of their outputs equals zero padding of the input and full rank is exact.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from onebyone.torch_typing import padding_pair, pair


def leading_left_vectors(matrix: Tensor, rank: int) -> Tensor:
    """The `rank` leading left singular vectors of `matrix` (rows × rank), float64.

    Unfoldings are wide (C × C'·kh·kw), so the eigenvectors of the small Gram matrix M·Mᵀ are
    much cheaper than an SVD of M.
    """
    m = matrix.double()
    if m.shape[0] > m.shape[1]:
        u, _, _ = torch.linalg.svd(m, full_matrices=False)
        return u[:, :rank]
    _, vectors = torch.linalg.eigh(m @ m.T)  # ascending eigenvalues
    return vectors.flip(-1)[:, :rank]


def singular_values(matrix: Tensor) -> Tensor:
    """Singular values of `matrix`, descending, float64 (from the smaller Gram matrix)."""
    m = matrix.double()
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return torch.linalg.eigvalsh(gram).flip(-1).clamp_min(0).sqrt()


def mode_spectra(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Singular values of the mode-0 (output) and mode-1 (input) unfoldings of a conv weight."""
    w = weight.detach().double()  # (C_out, C_in, kh, kw)
    out_values = singular_values(w.reshape(w.shape[0], -1))
    in_values = singular_values(w.transpose(0, 1).reshape(w.shape[1], -1))
    return out_values, in_values


def tucker2(
    weight: Tensor, in_rank: int, out_rank: int, hooi_iters: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Tucker-2 factors (U_in (C_in, r_in), core (r_out, r_in, kh, kw), U_out (C_out, r_out)), float64."""
    w = weight.detach().double()  # (C_out, C_in, kh, kw)
    c_out, c_in = w.shape[:2]
    u_out = leading_left_vectors(w.reshape(c_out, -1), out_rank)
    u_in = leading_left_vectors(w.transpose(0, 1).reshape(c_in, -1), in_rank)
    for _ in range(hooi_iters):
        # Each factor in turn: the best subspace given the other one (alternating least squares).
        projected = torch.einsum("oihw,or->rihw", w, u_out)  # (r_out, C_in, kh, kw)
        u_in = leading_left_vectors(projected.transpose(0, 1).reshape(c_in, -1), in_rank)
        projected = torch.einsum("oihw,is->oshw", w, u_in)  # (C_out, r_in, kh, kw)
        u_out = leading_left_vectors(projected.reshape(c_out, -1), out_rank)
    core = torch.einsum("oihw,or,is->rshw", w, u_out, u_in)
    return u_in, core, u_out


def relative_error(weight: Tensor, approximation: Tensor) -> float:
    """‖W − Ŵ‖_F / ‖W‖_F (0 for an all-zero weight approximated exactly)."""
    w = weight.detach().double()
    norm = float(w.norm())
    diff = float((w - approximation.double()).norm())
    return diff / norm if norm > 0 else diff


def _copy_conv_geometry(conv: nn.Conv2d, in_channels: int, out_channels: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels,
        out_channels,
        pair(conv.kernel_size),
        stride=pair(conv.stride),
        padding=padding_pair(conv.padding),
        dilation=pair(conv.dilation),
        bias=bias,
        padding_mode=conv.padding_mode,
    )


def factorize_conv_tucker2(
    conv: nn.Conv2d, in_rank: int, out_rank: int, hooi_iters: int = 0, *, fold: bool = True
) -> tuple[nn.Sequential, float]:
    """`conv` as 1×1 → k×k → 1×1 at ranks (r_in, r_out), and the weight's relative error.

    A rank equal to its channel count keeps that side whole: its 1×1 would be a square
    orthogonal matrix, so it is folded into the k×k core instead of run as a layer
    (`fold=False` keeps all three layers).
    """
    weight = conv.weight  # (C_out, C_in, kh, kw)
    u_in, core, u_out = tucker2(weight, in_rank, out_rank, hooi_iters)
    approximation = torch.einsum("rshw,or,is->oihw", core, u_out, u_in)
    keep_in = fold and in_rank == conv.in_channels
    keep_out = fold and out_rank == conv.out_channels
    if keep_in:
        core = torch.einsum("rshw,is->rihw", core, u_in)
    if keep_out:
        core = torch.einsum("rshw,or->oshw", core, u_out)
    has_bias = conv.bias is not None
    layers = []
    dtype = weight.dtype
    with torch.no_grad():
        if not keep_in:
            reduce = nn.Conv2d(conv.in_channels, in_rank, 1, bias=False)
            reduce.weight.copy_(u_in.T[:, :, None, None].to(dtype))
            layers.append(reduce)
        middle = _copy_conv_geometry(conv, core.shape[1], core.shape[0], bias=has_bias and keep_out)
        middle.weight.copy_(core.to(dtype))
        layers.append(middle)
        if not keep_out:
            expand = nn.Conv2d(out_rank, conv.out_channels, 1, bias=has_bias)
            expand.weight.copy_(u_out[:, :, None, None].to(dtype))
            layers.append(expand)
        if conv.bias is not None:  # has_bias: the last layer was built with a bias
            last_bias = layers[-1].bias
            assert last_bias is not None
            last_bias.copy_(conv.bias)
    return nn.Sequential(*layers).to(device=weight.device), relative_error(weight, approximation)


def _svd_halves(matrix: Tensor, rank: int) -> tuple[Tensor, Tensor, Tensor]:
    """W ≈ B @ A with A (r, C_in) and B (C_out, r), the singular values split evenly."""
    u, s, vh = torch.linalg.svd(matrix.detach().double(), full_matrices=False)
    root = s[:rank].sqrt()
    first = root[:, None] * vh[:rank]
    second = u[:, :rank] * root[None, :]
    return first, second, second @ first


def factorize_pointwise_svd(conv: nn.Conv2d, rank: int) -> tuple[nn.Sequential, float]:
    """A 1×1 `conv` as two 1×1 convs through `rank` channels (stride and padding on the first)."""
    weight = conv.weight  # (C_out, C_in, 1, 1)
    matrix = weight.reshape(conv.out_channels, conv.in_channels)
    first, second, approximation = _svd_halves(matrix, rank)
    reduce = _copy_conv_geometry(conv, conv.in_channels, rank, bias=False)
    expand = nn.Conv2d(rank, conv.out_channels, 1, bias=conv.bias is not None)
    with torch.no_grad():
        reduce.weight.copy_(first[:, :, None, None].to(weight.dtype))
        expand.weight.copy_(second[:, :, None, None].to(weight.dtype))
        if conv.bias is not None and expand.bias is not None:  # both or neither
            expand.bias.copy_(conv.bias)
    layers = nn.Sequential(reduce, expand).to(device=weight.device)
    return layers, relative_error(matrix, approximation)


def factorize_linear_svd(linear: nn.Linear, rank: int) -> tuple[nn.Sequential, float]:
    """A linear layer as Linear(C_in→r, no bias) → Linear(r→C_out, the original bias)."""
    weight = linear.weight  # (C_out, C_in)
    first, second, approximation = _svd_halves(weight, rank)
    reduce = nn.Linear(linear.in_features, rank, bias=False)
    expand = nn.Linear(rank, linear.out_features, bias=linear.bias is not None)
    with torch.no_grad():
        reduce.weight.copy_(first.to(weight.dtype))
        expand.weight.copy_(second.to(weight.dtype))
        if linear.bias is not None:
            expand.bias.copy_(linear.bias)
    layers = nn.Sequential(reduce, expand).to(device=weight.device)
    return layers, relative_error(weight, approximation)
