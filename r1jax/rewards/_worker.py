"""Slow-path verifier worker: `python -m r1jax.rewards._worker MEMORY_MB`.

Reads {"pred", "gold"} JSON lines (normalised answers) on stdin, writes {"eq": bool}
lines. Started and killed by `VerifierPool`.
"""

import json
import resource
import sys


def main():
  memory = int(sys.argv[1]) * 2**20 if len(sys.argv) > 1 else 2 * 2**30
  resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
  sys.setrecursionlimit(5000)
  from r1jax.rewards import symbolic   # imports sympy once, before "ready"
  out = sys.stdout
  out.write('{"ready": true}\n')
  out.flush()
  for line in sys.stdin:
    msg = json.loads(line)
    try:
      eq = symbolic.equivalent_normalized(msg['pred'], msg['gold'])
    except Exception:   # any sympy failure on hostile input is "not equal"
      eq = False
    out.write(json.dumps({'eq': bool(eq)}) + '\n')
    out.flush()


if __name__ == '__main__':
  main()
