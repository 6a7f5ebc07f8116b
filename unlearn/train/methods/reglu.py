"""REGLU: representation-guided LoRA. The adapters start in the input directions that separate the
forget set from the retain set, and a regulariser keeps their output out of the directions the
retain set uses.

Per adapted linear layer W (out × in), with input covariances C_f, C_r over the forget / retain
tokens: LoRA A starts as the top-r generalised eigenvectors of C_f v = λ (C_r + εI) v (inputs
strong on forget, weak on retain), B = 0. Loss: NPO on the forget set + α·ℓ(x_r) + μ·Σ‖U_rᵀ B A‖²_F,
U_r the top-k output directions of the retain set, eigenvectors of W C_r Wᵀ.

arXiv 2604.17396. RECONSTRUCTION from the spec (methods.md): ε is relative (ε·mean eigenvalue of
C_r), A's rows are scaled to the norm of the default initialisation, U_r comes from W C_r Wᵀ (the
retain output covariance of the frozen layer) by subspace iteration, and the covariances are
taken over every attended token. Needs LoRA mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.errors import UserError
from unlearn.model.hooks import forward_hooks
from unlearn.train.covariance import InputCovariance
from unlearn.train.methods.common import npo_and_retain
from unlearn.train.methods.registry import Batch, Method, MethodInfo, StepBatch, hp, register
from unlearn.train.params import ADAPTER


def generalized_top(c_f: torch.Tensor, c_r: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """Top-r solutions v of C_f v = λ (C_r + εI) v, as unit columns (in, r)."""
    n = c_r.shape[0]
    lam = eps * max(float(torch.diagonal(c_r).mean()), 1e-12)
    chol = torch.linalg.cholesky(c_r.double() + lam * torch.eye(n, dtype=torch.float64, device=c_r.device))
    inv = torch.linalg.solve_triangular(chol, torch.eye(n, dtype=torch.float64, device=c_r.device), upper=False)
    m = inv @ c_f.double() @ inv.T  # L⁻¹ C_f L⁻ᵀ, symmetric
    _, vecs = torch.linalg.eigh(m)  # ascending eigenvalues
    v = inv.T @ vecs[:, -r:].flip(-1)  # back to input space: L⁻ᵀ w
    return (v / v.norm(dim=0, keepdim=True)).float()


def top_output_directions(w: torch.Tensor, c_r: torch.Tensor, k: int, iters: int = 8) -> torch.Tensor:
    """Top-k eigenvectors of W C_r Wᵀ (out, k) by subspace iteration (no out × out matrix is formed)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(w.shape[0], k, generator=gen).to(w.device)
    for _ in range(iters):
        q, _ = torch.linalg.qr(w @ (c_r @ (w.T @ q)))
    return q


@dataclass
class ReGLUConfig:
    beta: float = hp(0.1, 0.1, "inverse temperature β of the NPO forget loss")
    alpha: float = hp(10.0, 1.0, "weight of the retain NLL (10 in the quick preset, as for NPO)")
    mu: float = hp(1.0, 1.0, "μ: weight of the retain-orthogonality regulariser")
    k_out: int = hp(8, 8, "k: retain output directions the adapters' output must avoid")
    eps: float = hp(0.01, 0.01, "ε: ridge on C_r, relative to its mean eigenvalue")


@register
class ReGLU(Method):
    info = MethodInfo(
        id="reglu",
        name="REGLU",
        paper="REGLU, representation-guided LoRA (arXiv 2604.17396)",
        summary="Starts each LoRA adapter in the input directions that are strong on the forget set and weak on "
        "the retain set, then unlearns with NPO while keeping the adapters' output out of the retain set's "
        "main output directions.",
        needs_retain=True,
        faithful=False,
        lora_only=True,
        lr=1.5e-3,
        paper_lr=1e-5,
    )
    Config = ReGLUConfig

    def __init__(self, cfg, ctx) -> None:
        super().__init__(cfg, ctx)
        self.guides: list[tuple[torch.nn.Module, torch.Tensor]] = []  # (LoRA layer, U_r)

    def lora_layers(self) -> dict[str, torch.nn.Module]:
        found = {
            n: m
            for n, m in self.ctx.model.named_modules()
            if hasattr(m, "lora_A") and ADAPTER in getattr(m, "lora_A", {})
        }
        if not found:
            raise UserError("REGLU initialises LoRA adapters: pick 'LoRA adapters' as the parameters trained")
        return found

    @torch.no_grad()
    def covariances(self, layers: dict[str, torch.nn.Module], batches: list[Batch]) -> dict[str, torch.Tensor]:
        """Input covariance per layer over the attended tokens; layers reading the same input share one."""
        covs = InputCovariance(torch.float32)  # layers reading one input (q/k/v, gate/up) share a product
        with forward_hooks((m.base_layer, covs.hook(n)) for n, m in layers.items()), self.ctx.reference():
            for b in batches:  # the model before: adapters off
                covs.batch(b["attention_mask"].bool())
                self.ctx.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        return covs.mean()

    @torch.no_grad()
    def prepare(self, forget: list[Batch], retain: list[Batch]) -> dict[str, float]:
        c = self.cfg
        layers = self.lora_layers()
        c_f, c_r = self.covariances(layers, forget), self.covariances(layers, retain)
        for n, m in layers.items():
            a = m.lora_A[ADAPTER].weight  # (r, in)
            v = generalized_top(c_f[n], c_r[n], a.shape[0], c.eps)  # (in, r)
            scale = a.norm(dim=1).mean()  # keep the default initialisation's row norm
            a.copy_((v.T * scale).to(a.dtype))
            w = m.base_layer.weight.float()
            self.guides.append((m, top_output_directions(w, c_r[n], min(c.k_out, w.shape[0]))))
        return {"layers_initialised": float(len(layers))}

    def regulariser(self) -> torch.Tensor:
        """Σ ‖U_rᵀ B A‖²_F over the adapted layers."""
        total = self.zero()
        for m, u in self.guides:
            b, a = m.lora_B[ADAPTER].weight, m.lora_A[ADAPTER].weight  # (out, r), (r, in)
            total = total + ((u.T @ b) @ a).pow(2).sum()
        return total

    def terms(self, b: StepBatch):
        c = self.cfg
        lf, lr = npo_and_retain(self.ctx, b.forget, b.retain, c.beta)
        reg = self.regulariser()
        return lf, c.alpha * lr + c.mu * reg, {"npo": lf.item(), "retain_loss": lr.item(), "orth_reg": reg.item()}
