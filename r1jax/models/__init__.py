"""The decoder and its helpers."""
from r1jax.models.transformer import (KEY_AXES, VALUE_AXES, KVCache, ModelConfig, Transformer,
                                      causal_mask, count_params, flops_per_token, forward,
                                      forward_with_prefix, init_params, lm_head_weight,
                                      map_cache)
