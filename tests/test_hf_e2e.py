"""End to end with an imported model: a tiny Hugging Face Qwen2 directory -> GRPO steps on a
GSM8K-format fixture (TFDS builder) and on a reasoning-gym task -> export of the workdir's
checkpoint -> transformers
loads and generates from it. Plus the stage hand-over rule: a checkpoint's tokenizer travels
with it, and a config whose tokenizer/data settings differ is refused."""
import json
import os

import jax
import numpy as np
import pytest

from r1jax import main
from r1jax.config import ConfigError
from r1jax.data.tokenizer import HFTokenizer, Tokenizer
from r1jax.models import hf
from r1jax.train import rl
from tests.conftest import make_tiny_config
from tests.hf_fixtures import write_qwen2

torch = pytest.importorskip('torch')
transformers = pytest.importorskip('transformers')

GSM8K = [{'question': f'Tom has {a} apples and buys {b} more. How many apples now?',
          'answer': f'{a} + {b} = {a + b}\n#### {a + b}'} for a in range(1, 9) for b in range(1, 4)]


def rl_config(hf_dir, **data):
  config = make_tiny_config()
  config.stages = ('rl',)
  config.model.hf_path = hf_dir
  config.model.logits_chunk = 100  # the chunked path inside the real update
  config.data.update(template='chatml', num_train=16, num_heldout=8, **data)
  config.eval.update(num_prompts=8, num_samples=2, max_new_tokens=6, prompt_len=96,
                     batch_size=8)
  config.rl.update(steps=2, prompts_per_step=8, group_size=2, prompt_len=96, max_new_tokens=6,
                   learning_rate=1e-3, eval_every=2, log_every=1, verifier_workers=1)
  # a random model earns no accuracy: the token-parity reward gives the groups a gradient
  config.rl.rewards = {'accuracy': 1.0, 'format': 0.5, 'even_tokens': 1.0}
  config.checkpoint.update(every=0, keep=1)
  config.log.update(tensorboard=False, plots=False)
  return config


def record_updates(monkeypatch):
  """[(trainer, params before, params after, device batches, chunk weights)] of every RL
  update, on the host (the update donates the state it is given)."""
  seen, update = [], rl.GRPOTrainer.update

  def recorded(self, train_state, batches, weights):
    before = jax.device_get(train_state.params)
    new_state, metrics = update(self, train_state, batches, weights)
    seen.append((self, before, jax.device_get(new_state.params), jax.device_get(batches), weights))
    return new_state, metrics
  monkeypatch.setattr(rl.GRPOTrainer, 'update', recorded)
  return seen


def batch_loss(trainer, params, batches, weights) -> float:
  """The trainer's policy loss on a whole update batch: its chunks' losses with their weights."""
  prefix = None if trainer.prefix is None else np.asarray(trainer.prefix, np.int32)
  loss_fn = jax.jit(rl.make_loss_fn(trainer.model_cfg, trainer.loss_cfg, trainer.rl.prompt_len,
                                    trainer.rl.temperature, prefix, trainer.rl))
  return sum(float(w) * float(loss_fn(params, b)[0]) for b, w in zip(batches, weights[0]))


@pytest.mark.slow
def test_hf_qwen2_grpo_on_gsm8k_and_reasoning_gym_then_export(tmp_path, monkeypatch):
  hf_dir = write_qwen2(str(tmp_path / 'qwen2'))
  manual = tmp_path / 'gsm8k'
  manual.mkdir()
  for split, rows in (('train', GSM8K[:16]), ('test', GSM8K[16:])):
    with open(manual / f'{split}.jsonl', 'w') as f:
      f.writelines(json.dumps(r) + '\n' for r in rows)
  _, imported = hf.load_hf(hf_dir)
  updates = record_updates(monkeypatch)

  runs = {
      'gsm8k': rl_config(hf_dir, source='tfds', tfds_name='r1jax_gsm8k',
                         tfds_dir=str(tmp_path / 'tfds'), manual_dir=str(manual),
                         heldout_split='test'),
      'rg': rl_config(hf_dir, source='reasoning_gym', rg_tasks=('basic_arithmetic',)),
  }
  for name, config in runs.items():
    workdir = str(tmp_path / f'run_{name}')
    state = main.run(config, workdir)['rl']
    rows = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
    assert [r['step'] for r in rows if 'reward' in r] == [1, 2]
    assert any('eval/accuracy' in r for r in rows)
    assert isinstance(main.load_or_train_tokenizer(config, workdir), HFTokenizer)
    params = state.train.params
    # GRPO started from the imported weights, and each update lowered the policy loss on the
    # batch it was taken on
    mine = updates[-2:]
    assert len(mine) == 2
    for got, want in zip(jax.tree.leaves(mine[0][1]), jax.tree.leaves(imported)):
      np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    for trainer, before, after, batches, weights in mine:
      loss_before = batch_loss(trainer, before, batches, weights)
      loss_after = batch_loss(trainer, after, batches, weights)
      assert loss_after < loss_before - 1e-6, (loss_before, loss_after)
    for got, want in zip(jax.tree.leaves(jax.device_get(params)), jax.tree.leaves(mine[-1][2])):
      np.testing.assert_array_equal(got, want)   # the run returns the last update's params

  # the evaluation CLI on the GSM8K run's checkpoint (held-out = the 'test' split), and on the
  # imported model itself (a workdir without checkpoints)
  for workdir, origin in ((str(tmp_path / 'run_gsm8k'), 'rl step 2'),
                          (str(tmp_path / 'eval_only'), hf_dir)):
    row = main.evaluate_workdir(runs['gsm8k'], workdir)
    results = json.load(open(os.path.join(workdir, 'eval', 'results.json')))
    assert origin in results['source'] and results['k'] == 2
    done = [json.loads(l) for l in open(os.path.join(workdir, 'eval', 'completions.jsonl'))]
    assert len(done) == 8 * 2
    assert sorted({d['gold'] for d in done}) == sorted(
        {g['answer'].split('#### ')[1] for g in GSM8K[16:24]})
    assert results['eval/accuracy'] == row['eval/accuracy'] == np.mean([d['correct'] for d in done])
    assert '| accuracy |' in open(os.path.join(workdir, 'eval', 'results.md')).read()

  # export the reasoning-gym run's final checkpoint (what `python -m r1jax.main --mode=export`
  # does) and let transformers generate from it
  out = main.export_stage(runs['rg'], str(tmp_path / 'run_rg'), str(tmp_path / 'export'))
  cfg = hf.read_config(hf_dir)
  tok = transformers.AutoTokenizer.from_pretrained(out)
  model = transformers.AutoModelForCausalLM.from_pretrained(out).float().eval()
  prompt = tok('<|im_start|>user\nHow many legs?<|im_end|>\n<|im_start|>assistant\n',
               return_tensors='pt')
  with torch.no_grad():
    generated = model.generate(**prompt, max_new_tokens=5, do_sample=False,
                               pad_token_id=tok.pad_token_id)
  assert generated.shape[1] > prompt['input_ids'].shape[1]
  with torch.no_grad():
    logits = model(prompt['input_ids']).logits.numpy()
  from r1jax.models import forward
  ours = forward(cfg, params, prompt['input_ids'].numpy())
  assert np.abs(np.asarray(ours) - logits).max() <= 1e-4


def test_stages_hand_on_their_tokenizer_and_refuse_other_settings(tmp_path):
  from r1jax.data.corpus import tokenizer_corpus
  from r1jax.data.tasks import TASKS, make_examples
  from r1jax.data.tokenizer import train_tokenizer
  tokenizer_lines = tokenizer_corpus(make_examples(sorted(TASKS), 'train', 300, 0, [1, 2]))
  base = tmp_path / 'base'
  base_config = make_tiny_config()
  train_tokenizer(tokenizer_lines, 512, str(base / 'tokenizer'))
  (base / 'config.json').write_text(base_config.to_json_best_effort())

  config = make_tiny_config()
  config.stages = ('rl',)
  config.rl.init_from = str(base)
  tok = main.load_or_train_tokenizer(config, str(tmp_path / 'rl'))  # no retraining: a copy
  assert isinstance(tok, Tokenizer)
  assert open(tmp_path / 'rl' / 'tokenizer' / 'tokenizer.model', 'rb').read() == open(
      base / 'tokenizer' / 'tokenizer.model', 'rb').read()

  config.data.num_train = 999  # a different corpus -> a different tokenizer: refused
  with pytest.raises(ConfigError, match=r'data.num_train=999 \(base: 200\)'):
    main.load_or_train_tokenizer(config, str(tmp_path / 'rl2'))
  config = make_tiny_config()
  config.stages = ('rl',)
  config.rl.init_from = str(tmp_path / 'nowhere')
  with pytest.raises(ValueError, match='has no tokenizer/ directory'):
    main.load_or_train_tokenizer(config, str(tmp_path / 'rl3'))
