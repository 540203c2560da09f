"""Checks r1jax/models/memory.py against XLA's buffer assignment of the compiled GRPO update
(argument + temp + output - aliased bytes of `memory_analysis()`) on one CPU device, for a
mid-size config (32k vocab, d 512, 8 layers, 16 sequences of 128+384 tokens).

  python benchmarks/memory_check.py none 0
"""
import jax
jax.config.update('jax_num_cpu_devices', 1)
import numpy as np, jax.numpy as jnp
from configs import common
from r1jax import sharding
from r1jax.models import memory, ModelConfig
from r1jax.train import rl
from r1jax.train.state import create_train_state, make_optimizer
import sys  # usage: python benchmarks/memory_check.py REMAT LOGITS_CHUNK
c = common.get_config()
c.stages=('rl',)
c.model.update(vocab_size=32768, d_model=512, n_layers=8, n_heads=8, n_kv_heads=4, d_ff=2048, remat=sys.argv[1], logits_chunk=int(sys.argv[2]))
c.rl.update(prompts_per_step=4, group_size=4, prompt_len=128, max_new_tokens=384)
c.mesh.shape=(1,1,1)
est = memory.estimate(c, 1)
mesh = sharding.make_mesh(c.mesh); rules = sharding.rules_from_config(c)
cfg = ModelConfig.from_config(c.model); tx = make_optimizer(c.rl, total_steps=10)
state, shard = create_train_state(cfg, tx, jax.random.key(0), mesh, rules)
R, L = 16, 512
batch = rl.RolloutBatch(tokens=jnp.ones((R,L),jnp.int32), valid=jnp.ones((R,L),bool), completion_mask=jnp.ones((R,384)), old_logp=jnp.zeros((R,384)), ref_logp=jnp.zeros((R,384)), advantages=jnp.ones((R,)))
with sharding.use_mesh(mesh, rules):
  step = jax.jit(rl.make_train_step(cfg, tx, rl.loss_config(c.rl), 128, 1.0), donate_argnums=0)
  m = step.lower(state, batch).compile().memory_analysis()
measured = m.argument_size_in_bytes + m.temp_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
update_est = est['total'] - est['reference']  # no kv cache in the update; total uses max(update, cache)
print(sys.argv[1:], {k: round(v/2**20,1) for k,v in est.items() if isinstance(v,float) or isinstance(v,int)})
print('measured MiB', round(measured/2**20,1), 'args', round(m.argument_size_in_bytes/2**20,1), 'temp', round(m.temp_size_in_bytes/2**20,1), 'out', round(m.output_size_in_bytes/2**20,1), 'alias', round(m.alias_size_in_bytes/2**20,1), 'estimate', round(est['total']/2**20,1), 'ratio', round(est['total']/measured,3))
