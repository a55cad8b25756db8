"""The campaign's stages as plain functions of (database, context, inputs): no jobflow, no FireWorks.

One module per stage: seed, label, train (and the final fit), explore, select, decide, validation (the quality
gate), test_set (held-out errors), summary. :mod:`pyacemaker.campaign.flows` wraps each in a jobflow ``@job``;
tests call them directly with a real database. Every stage records what it did in the campaign document, so
``pyacemaker status`` and ``decide`` read one place.
"""
