"""pyacemaker: unattended active learning of Atomic Cluster Expansion potentials.

Importing the package has no side effects: no database connection, no TensorFlow import.
"""

__version__ = "0.1.0"
