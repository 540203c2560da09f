"""TFDS builders for real reasoning datasets read from local files (`manual_dir`).

Importing this package registers `r1jax_gsm8k`, `r1jax_math` (configs `math`, `math500`),
`r1jax_aime` and `r1jax_qa`; see `r1jax.data.source` and README "Use your own model and data".
"""
from r1jax.data.tfds_real.builders import (PARSERS, R1jaxAime, R1jaxGsm8k, R1jaxMath, R1jaxQa,
                                           RecordError, read_file)
