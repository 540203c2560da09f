"""TFDS builder for the synthetic tasks (array_record, no TensorFlow needed).

Importing this package registers the `r1jax_synthetic` builder; see `r1jax.data.source`.
"""

from r1jax.data.tfds_synthetic.builder import R1jaxSynthetic, SyntheticConfig, config_for
