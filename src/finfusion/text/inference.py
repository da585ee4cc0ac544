"""How frozen text models run: the inference engine and precision, and which combinations exist.

    check_inference("onnx", "int8", target="encoder", tuning="frozen", where="model 'news'")  # ok
    check_inference("onnx", "bf16", target="encoder", where="...")   # ConfigError naming what works

Two settings, chosen per model in a run config (`encoder_engine` / `encoder_precision` of the text
models, `engine` / `precision` of a sentiment spec):

engine     "torch" (default) or "onnx": ONNX Runtime (`finfusion.text.onnx_engine`, extra
           ``finfusion[onnx]``). ONNX applies to frozen inference only: the pooled vectors of
           ``tuning="frozen"`` and a sentiment classifier's probabilities. Whatever trains (tuning
           "full", "lora", the top layers of "top_k") and the cached lower layers of "top_k" run
           in torch.
precision  "fp32" (default, exact), "bf16" (torch only: CPU autocast, fast where the CPU has
           AMX / AVX512-BF16) or "int8" (onnx only: int8 weights per output channel and int8
           activations with fixed scales calibrated on shipped texts, `finfusion.text.onnx_int8`).

Why int8 is ONNX-only: torch's eager dynamic quantisation (`torch.ao.quantization.quantize_dynamic`)
is deprecated in favour of torchao, and one int8 path is what is measured (docs/text.md).
Why bf16 is torch-only: ONNX Runtime's CPU provider has no bfloat16 kernels for these graphs.
int8 for sentiment classifiers is offered because the PhraseBank check of
benchmarks/onnx_accuracy.py passed (validation accuracy fp32 vs int8 within 0.5 point,
`CLASSIFIER_INT8`).

This module imports neither torch nor onnxruntime: config validation stays fast.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

from finfusion.errors import ConfigError

__all__ = ["Engine", "Precision", "ENGINES", "PRECISIONS", "ONNX_INSTALL", "CLASSIFIER_INT8", "check_inference",
           "onnx_missing", "require_onnx"]

Engine = Literal["torch", "onnx"]
Precision = Literal["fp32", "int8", "bf16"]
ENGINES: tuple[str, ...] = ("torch", "onnx")
PRECISIONS: tuple[str, ...] = ("fp32", "int8", "bf16")
OFFERED = {"torch": ("fp32", "bf16"), "onnx": ("fp32", "int8")}
ONNX_PACKAGES = ("onnxruntime", "onnx")  # onnx: the graph optimiser and the quantiser read and write models
ONNX_INSTALL = "pip install 'finfusion[onnx]'"
# benchmarks/onnx_accuracy.py: PhraseBank validation accuracy of a fine-tuned MiniLM classifier,
# fp32 vs int8, differs by <= 0.5 point (docs/text.md, "Fast inference: ONNX Runtime")
CLASSIFIER_INT8 = True


def onnx_missing() -> list[str]:
    """The packages of the onnx engine that are not installed (without importing them)."""
    return [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]


def require_onnx(where: str) -> None:
    """ConfigError naming the install command when onnxruntime or onnx is missing."""
    missing = onnx_missing()
    if missing:
        raise ConfigError(f"{where}: engine 'onnx' needs {' and '.join(missing)}, which "
                          f"{'is' if len(missing) == 1 else 'are'} not installed: {ONNX_INSTALL}")


def check_inference(engine: str, precision: str, *, target: Literal["encoder", "classifier"], where: str,
                    tuning: str = "frozen") -> None:
    """ConfigError unless (engine, precision) can run `target` ("encoder": a `TextEncoder` with
    `tuning`; "classifier": a sentiment classifier), naming what works."""
    if engine not in ENGINES:
        raise ConfigError(f"{where}: engine must be one of {list(ENGINES)}, got {engine!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"{where}: precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if engine == "onnx" and tuning != "frozen":
        raise ConfigError(f"{where}: engine 'onnx' runs frozen inference only (the pooled vectors of tuning "
                          f"'frozen', sentiment scoring); tuning {tuning!r} runs the encoder in torch (it trains, "
                          "or caches lower-layer states): use engine 'torch', or tuning 'frozen'")
    if precision == "int8" and tuning != "frozen":
        raise ConfigError(f"{where}: precision 'int8' applies to the pooled vectors of tuning 'frozen' and to "
                          f"sentiment scoring (ONNX Runtime); tuning {tuning!r} runs the encoder in torch: use "
                          "precision 'fp32' (or 'bf16' for the cached lower layers of 'top_k')")
    if precision != "fp32" and tuning in ("full", "lora"):
        raise ConfigError(f"{where}: precision {precision!r} applies to frozen inference (tuning 'frozen' or the "
                          f"cached lower layers of 'top_k'); tuning {tuning!r} trains the whole encoder in float32: "
                          "use precision 'fp32'")
    if precision not in OFFERED[engine]:
        other = next(e for e, offered in OFFERED.items() if precision in offered)
        raise ConfigError(f"{where}: precision {precision!r} needs engine {other!r}; engine {engine!r} offers "
                          f"{' and '.join(repr(p) for p in OFFERED[engine])}"
                          + (" (torch's dynamic quantisation is deprecated; int8 runs on ONNX Runtime)"
                             if precision == "int8" else " (ONNX Runtime's CPU provider has no bfloat16 kernels)"))
    if target == "classifier" and precision == "int8" and not CLASSIFIER_INT8:
        raise ConfigError(f"{where}: precision 'int8' is not offered for sentiment classifiers (it failed the "
                          "PhraseBank accuracy check of benchmarks/onnx_accuracy.py); use 'fp32'")
    if engine == "onnx":
        require_onnx(where)
