"""The record every synthetic task produces, and the train/held-out split rule."""

import dataclasses
import hashlib
from typing import Any

# Fraction of each task's problem space reserved for evaluation. A problem's split is a pure
# function of its canonical question text, so no seed or sample size can leak it across splits.
HELDOUT_FRACTION = 0.15
SPLITS = ('train', 'heldout')


@dataclasses.dataclass(frozen=True)
class Example:
  """One problem with its gold answer and a worked chain-of-thought trace.

  `numbers`/`target` are only used by countdown (the numbers to combine, the value to reach).
  `language` is the question's language ('en' | 'zh', r1jax/data/tasks/languages.py).
  """
  task: str
  question: str
  answer: str
  cot: str
  difficulty: int
  numbers: tuple[int, ...] = ()
  target: int = 0
  language: str = 'en'

  def metadata(self) -> dict[str, Any]:
    """What the reward functions receive next to a completion."""
    return dict(task=self.task, answer=self.answer, difficulty=self.difficulty,
                numbers=self.numbers, target=self.target, language=self.language)

  def to_record(self) -> dict[str, Any]:
    """A flat dict of plain Python values (the TFDS features)."""
    return dict(task=self.task, question=self.question, answer=self.answer, cot=self.cot,
                difficulty=self.difficulty, numbers=list(self.numbers), target=self.target,
                language=self.language)

  @classmethod
  def from_record(cls, record: dict[str, Any]) -> 'Example':
    """Inverse of `to_record`; also accepts TFDS output (bytes strings, numpy scalars/arrays)."""
    def text(v):
      return v.decode('utf-8') if isinstance(v, (bytes, bytearray)) else str(v)
    return cls(task=text(record['task']), question=text(record['question']),
               answer=text(record['answer']), cot=text(record['cot']),
               difficulty=int(record['difficulty']),
               numbers=tuple(int(n) for n in record.get('numbers', ())),
               target=int(record.get('target', 0)),
               language=text(record.get('language', 'en')))


def split_of(task: str, question: str) -> str:
  """'train' or 'heldout', from a stable (hashlib, not `hash()`) hash of the question text."""
  digest = hashlib.sha256(f'{task}|{question}'.encode('utf-8')).digest()
  bucket = int.from_bytes(digest[:8], 'big') / 2**64
  return 'heldout' if bucket < HELDOUT_FRACTION else 'train'


@dataclasses.dataclass(frozen=True)
class Task:
  """A registered task: `generate(rng, difficulty)` draws one random `Example`."""
  name: str
  generate: Any  # Callable[[random.Random, int], Example]
  difficulties: tuple[int, ...]
  description: str


def normalised_probs(probs, known, field: str) -> tuple[list, list]:
  """The names of `probs` (a {name: weight} mapping, config field `field`) with a positive
  weight, in the order of `known`, and their weights normalised to sum to 1."""
  unknown = set(probs) - set(known)
  if unknown:
    raise ValueError(f'{field} has unknown entries {sorted(unknown)}; known: {tuple(known)}')
  total = sum(probs.values())
  if total <= 0 or min(probs.values()) < 0:
    raise ValueError(f'{field} must be non-negative with a positive sum, got {dict(probs)}')
  names = [n for n in known if probs.get(n, 0) > 0]
  return names, [probs[n] / total for n in names]
