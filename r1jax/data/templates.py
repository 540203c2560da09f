"""Prompt/completion templates: the R1-Zero template (DeepSeek-R1 paper, Table 1) and plain chat.

  t = get_template('r1_zero')
  t.prompt('Compute 7 + 5 - 3')   # '... User: Compute 7 + 5 - 3. Assistant:'
  t.completion('7 + 5 = 12 . 12 - 3 = 9 .', '9')
                                  # ' <think> 7 + 5 = 12 . 12 - 3 = 9 . </think> <answer> 9 </answer>'

A document is prompt + completion with no separator: the completion starts with its own space.
"""

import dataclasses

THINK_OPEN, THINK_CLOSE = '<think>', '</think>'
ANSWER_OPEN, ANSWER_CLOSE = '<answer>', '</answer>'
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

R1_ZERO_PROMPT = (
    'A conversation between User and Assistant. The user asks a question, and the Assistant '
    'solves it. The assistant first thinks about the reasoning process in the mind and then '
    'provides the user with the answer. The reasoning process and answer are enclosed within '
    '<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process '
    'here </think> <answer> answer here </answer>. User: {question}. Assistant:')


@dataclasses.dataclass(frozen=True)
class Template:
  name: str
  prompt_format: str      # fields: question
  completion_format: str  # fields: cot, answer
  # Where the accuracy reward and the evaluation read the answer (rewards.math.extract_answer):
  # 'tagged' for the R1 templates (only an answer inside <answer></answer> counts, the paper's
  # rule reward), 'auto' for the others (the boxed answer, or 'the answer is ...').
  answer_source: str = 'auto'

  def prompt(self, question: str) -> str:
    return self.prompt_format.format(question=question)

  def completion(self, cot: str, answer: str) -> str:
    return self.completion_format.format(cot=cot, answer=answer)


TEMPLATES = {
    'r1_zero': Template('r1_zero', R1_ZERO_PROMPT,
                        f' {THINK_OPEN} {{cot}} {THINK_CLOSE} {ANSWER_OPEN} {{answer}} {ANSWER_CLOSE}',
                        answer_source='tagged'),
    'chat': Template('chat', 'User: {question}\nAssistant:', ' {cot} The answer is {answer}.'),
}

# Formats of imported models' own tokenizers (kept out of TEMPLATES, whose texts train the
# SentencePiece tokenizer).
MODEL_TEMPLATES = {
    # Qwen's chat format (ChatML), for instruct models; answers in \boxed{} as Qwen-Math.
    'chatml': Template('chatml', '<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n',
                       '{cot} The answer is $\\boxed{{{answer}}}$.'),
    # The R1-Zero instruction as the system turn of ChatML (instruct models, R1 tags).
    'chatml_r1': Template(
        'chatml_r1', '<|im_start|>system\n' + R1_ZERO_PROMPT.split(' User:')[0]
        + '<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n',
        f'{THINK_OPEN} {{cot}} {THINK_CLOSE} {ANSWER_OPEN} {{answer}} {ANSWER_CLOSE}',
        answer_source='tagged'),
}


def get_template(name: str) -> Template:
  known = {**TEMPLATES, **MODEL_TEMPLATES}
  if name not in known:
    raise ValueError(f'Unknown template {name!r}; known templates: {sorted(known)}')
  return known[name]
