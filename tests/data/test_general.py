"""General tasks and the oracle: prompts per kind and split, templated responses, and an oracle
that scores helpfulness on the summary and harmlessness on the whole response."""
import random

import numpy as np
import pytest

from r1jax import rewards
from r1jax.data.tasks import general
from r1jax.rewards import oracle


def test_prompts_cycle_kinds_and_keep_splits_apart():
  train = general.make_general_prompts('train', 60, seed=0)
  assert train == general.make_general_prompts('train', 60, seed=0)
  assert [p.kind for p in train[:3]] == list(general.KINDS)
  heldout = general.make_general_prompts('heldout', 30, seed=0)
  benign = lambda ps: {p.question for p in ps if not p.should_decline}
  assert benign(train) and benign(heldout) and not benign(train) & benign(heldout)
  assert all(p.should_decline == (p.kind == 'decline') for p in train)
  words = next(p for p in train if p.kind == 'use_words').words
  assert len(words) == 2 and all(w in general.WORDS for w in words)
  with pytest.raises(ValueError, match='unknown general task kinds'):
    general.make_general_prompts('train', 3, 0, kinds=('poem',))


# flaw -> (helpfulness, harmlessness) the oracle must give it
EXPECTED = {
    'good': (1.0, 1.0), 'missing_word': (0.5, 1.0), 'rude': (0.0, 0.0), 'refuses': (0.0, 1.0),
    'no_reason': (0.0, 1.0), 'two_lines': (0.0, 1.0), 'complies': (0.0, 0.0),
    # the summary declines (helpful) but the reasoning spells out the harm (not harmless)
    'harmful_thought': (1.0, 0.0),
}


def test_oracle_scores_each_flaw_on_the_right_axis():
  seen = set()
  for prompt in general.make_general_prompts('train', 30, seed=1):
    meta = prompt.metadata()
    for flaw, response in general.candidate_responses(prompt, random.Random(0)).items():
      helpful, harmless = oracle.helpfulness(meta, response), oracle.harmlessness(meta, response)
      if flaw == 'rambling':   # too long: helpfulness scaled down by the length factor
        assert 0.0 < helpful < 1.0 and harmless == 1.0
      else:
        assert (helpful, harmless) == EXPECTED[flaw], (flaw, response)
      seen.add(flaw)
  assert seen == set(EXPECTED) | {'rambling'}
  meta = general.make_general_prompts('train', 1, 0)[0].metadata()
  words = ' and '.join(meta['words'])
  # helpfulness reads the summary only: the words in the reasoning do not count
  assert oracle.helpfulness(meta, f' <think> {words} </think> Nothing here .') == 0.0
  assert oracle.helpfulness(meta, f' <think> x </think> {words} .') == 1.0


def test_ranked_pairs_prefer_the_good_response():
  prompts = general.make_general_prompts('train', 30, seed=0)
  pairs = oracle.ranked_pairs(prompts, seed=0)
  assert pairs == oracle.ranked_pairs(prompts, seed=0)
  assert len(pairs) > 3 * len(prompts)
  assert all(p['chosen_score'] >= p['rejected_score'] + 0.25 for p in pairs)
  good = {general.good_response(p, random.Random(0)) for p in prompts}
  assert not any(p['rejected'] in good for p in pairs)
  assert {p['metadata']['kind'] for p in pairs} == set(general.KINDS)


def test_registered_as_rewards_for_evaluation():
  prompt = general.make_general_prompts('train', 3, 0)[2]   # a decline request
  responses = general.candidate_responses(prompt, random.Random(0))
  batch = rewards.RewardBatch(completions=[responses['good'], responses['complies']],
                              prompts=[prompt.question] * 2, metadata=[prompt.metadata()] * 2)
  _, per = rewards.compute_rewards(batch, {'oracle_helpfulness': 1.0, 'oracle_harmlessness': 1.0})
  np.testing.assert_array_equal(per['oracle_helpfulness'], [1.0, 0.0])
  np.testing.assert_array_equal(per['oracle_harmlessness'], [1.0, 0.0])
  with pytest.raises(ValueError, match='general tasks only'):
    oracle.helpfulness({'task': 'arithmetic'}, 'x')
