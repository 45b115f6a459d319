"""Text LLMs used by mmlong's language routes: loading (with a GGUF conversion cache)."""

from mmlong.llm.loader import default_cache_dir, load_causal_lm

__all__ = ["load_causal_lm", "default_cache_dir"]
