"""Which prompt tokens drive the answer: Captum's LLM attribution, as plain arrays.

Three methods:
- "gradient" (the default): gradient x input (Shrikumar et al. 2016), by Captum's
  `LayerGradientXActivation` on the input embeddings: the gradient of the answer's total
  log-probability with respect to each token's embedding, dotted with that embedding. One forward
  and one backward per model (issue 19: at most 1.5x a bare forward + backward).
- "ablation": `LLMAttribution(FeatureAblation(model), tokenizer)`: each question token in turn is
  replaced by a neutral token and the drop in the answer's log-probability is its attribution.
  One forward per question token (batched, several per forward): slower than the gradient, but
  exact rather than a first-order estimate of what removing a token does.
- "ig": `LLMGradientAttribution(LayerIntegratedGradients(model, embeddings), tokenizer)`: integrated
  gradients from an all-baseline embedding, summed over the embedding dimension. Captum runs it once
  per answer token (n_steps forward+backward passes each), so it is the slow choice.

Only the user's question is attributed, not the chat template around it (system prompt, role
markers): those are the same for every prompt and would crowd the plot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import (
    FeatureAblation,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    LLMAttribution,
    LLMGradientAttribution,
)
from captum.attr._utils.interpretable_input import TextTokenInput
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.data.examples import Example
from unlearn.data.prompts import encode, question_mask
from unlearn.errors import UserError
from unlearn.model.forward import accepts, accepts_logits_to_keep

METHODS = {  # the first is the default
    "gradient": "Gradient × input (one forward + backward)",
    "ablation": "Feature ablation (one forward per question token)",
    "ig": "Integrated gradients (slow)",
}
ABLATIONS_PER_FORWARD = 8  # ablated prompts batched into one forward: ~40% less time on a CPU, bounded memory


@dataclass
class Attribution:
    tokens: list[str]  # the question's tokens, as text
    scores: np.ndarray  # (n,) contribution of each to the answer's total log-probability
    method: str
    seconds: float


class QuestionTokens(TextTokenInput):
    """Captum's token input, with the interpretable tokens chosen by position (the question inside
    the chat prompt) rather than by token id: a word of the question can also occur in the
    template and must not be skipped there."""

    def __init__(self, prompt_ids: list[int], keep: list[bool], tokenizer: PreTrainedTokenizerBase, baseline: int):
        # the parent's __init__ tokenizes text; everything it sets is set here from ids instead
        self.inp_tensor = torch.tensor([prompt_ids])  # (1, P)
        self.itp_mask = torch.tensor([keep])  # (1, P)
        self.itp_tensor = self.inp_tensor[self.itp_mask].unsqueeze(0)  # (1, n)
        self.skip_tokens = None
        self.tokenizer = tokenizer
        self.values = [tokenizer.decode([i]) for i in self.itp_tensor[0].tolist()]
        self.n_itp_features = len(self.values)
        self.baselines = baseline


class BatchedLLMAttribution(LLMAttribution):
    """Captum's `LLMAttribution`, whose one-pass forward (`forward_in_tokens=False`) takes a batch of
    ablated prompts, so FeatureAblation's `perturbations_per_eval` can run several in one forward; and
    the vocabulary head runs on the target positions only. Same outputs as the parent's forward
    (log-probability of the whole target, then of each target token), one row per prompt.
    (Overrides a private method of captum 0.9.0, the pinned version.)"""

    def _forward_func_by_seq(
        self, perturbed_tensor: torch.Tensor | None, inp: TextTokenInput, target_tokens: torch.Tensor
    ) -> torch.Tensor:
        ids = self._format_model_input(inp.to_model_input(perturbed_tensor))["input_ids"]  # (B, P)
        # FeatureAblation repeats tensor arguments once per batched perturbation (torch.cat of copies):
        # the target is the first 1/B of what arrives
        n = target_tokens.shape[0] // ids.shape[0]
        target = target_tokens[:n].to(ids.device).unsqueeze(0).expand(ids.shape[0], -1)  # (B, A)
        full = torch.cat([ids, target], 1)  # (B, P + A)
        keep = {"logits_to_keep": n + 1} if accepts_logits_to_keep(self.model) else {}
        logits = self.model(input_ids=full, **keep).logits[:, -n - 1 : -1].float()  # (B, A, V): predicts each target
        lp = logits.gather(-1, target.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)  # (B, A)
        out = torch.cat([lp.sum(-1, keepdim=True), lp], 1) if self.include_per_token_attr else lp.sum(-1)
        return out if self.attr_target == "log_prob" else out.exp()


def answer_log_prob(model: PreTrainedModel, ids: torch.Tensor, n_prompt: int) -> torch.Tensor:
    """Total log-probability (1,) of the answer `ids[:, n_prompt:]` given what precedes it, from one
    forward of prompt + answer (1, P + A). The vocabulary head runs only on the A positions that
    predict the answer, and the softmax is taken in fp32 over those alone."""
    n = ids.shape[1] - n_prompt
    kwargs = {"logits_to_keep": n + 1} if accepts_logits_to_keep(model) else {}
    if accepts(model, "use_cache"):
        kwargs["use_cache"] = False  # nothing generates from this forward
    logits = model(input_ids=ids, **kwargs).logits[:, -n - 1 : -1].float()  # (1, A, V)
    lp = logits.log_softmax(-1).gather(-1, ids[:, n_prompt:, None]).squeeze(-1)  # (1, A)
    return lp.sum(-1)


def gradient_x_input(model: PreTrainedModel, ids: list[int], n_prompt: int) -> torch.Tensor:
    """Gradient x input of the answer's log-probability at every position (P + A,), by Captum's
    `LayerGradientXActivation` on the embedding layer: one forward, then one `torch.autograd.grad`
    with respect to the embedding output only, so no parameter's `.grad` is written (even where
    parameters require gradients, e.g. LoRA adapters) and the weights' own gradients are never computed."""
    device = model.get_input_embeddings().weight.device
    x = torch.tensor([ids], device=device)  # (1, P + A)
    method = LayerGradientXActivation(lambda t: answer_log_prob(model, t, n_prompt), model.get_input_embeddings())
    attr = method.attribute(x)  # (1, P + A, D): gradient * embedding
    return attr[0].float().sum(-1).detach()


def attribute(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    ex: Example,
    method: str = "gradient",
    max_tokens: int = 160,
    ig_steps: int = 8,
) -> Attribution:
    """Attribution of the answer's log-probability to each question token. The model is unchanged
    (Captum only runs forwards and, for the gradient methods, backwards into the embeddings; IG's
    gradients are cleared)."""
    if method not in METHODS:
        raise UserError(f"unknown attribution method {method!r}: choose one of {', '.join(METHODS)}")
    if not ex.is_qa:
        raise UserError("attribution needs a question (a prompt) and an answer; a plain passage has no prompt")
    enc = encode(tokenizer, ex, max_tokens)
    n_prompt = len(enc.input_ids) - enc.n_answer_tokens
    prompt_ids, answer_ids = enc.input_ids[:n_prompt], enc.input_ids[n_prompt:]
    keep = question_mask(tokenizer, prompt_ids)
    baseline = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    inp = QuestionTokens(prompt_ids, keep, tokenizer, baseline)
    target = torch.tensor(answer_ids)
    t0 = time.perf_counter()
    if method == "gradient":
        per_position = gradient_x_input(model, enc.input_ids, n_prompt)[:n_prompt]  # (P,)
        scores = per_position[torch.tensor(keep, device=per_position.device)].cpu().numpy()
        return Attribution(list(inp.values), scores, method, time.perf_counter() - t0)
    if method == "ablation":
        llm = BatchedLLMAttribution(FeatureAblation(model), tokenizer)
        with torch.no_grad():  # one pass per ablated prompt (not token by token), several per forward
            res = llm.attribute(
                inp, target=target, forward_in_tokens=False, perturbations_per_eval=ABLATIONS_PER_FORWARD
            )
    else:
        llm = LLMGradientAttribution(LayerIntegratedGradients(model, model.get_input_embeddings()), tokenizer)
        res = llm.attribute(inp, target=target, n_steps=ig_steps, internal_batch_size=ig_steps)
        model.zero_grad(set_to_none=True)
    scores = res.seq_attr.detach().float().cpu().numpy()
    return Attribution(list(inp.values), scores, method, time.perf_counter() - t0)
