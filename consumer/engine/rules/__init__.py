"""The RB.046.A rules, one module per theme; importing this package registers them all.

Where is the rule for …? place of service: `place.py`; code sets, exclusive and bundled codes,
modifiers, NOC: `codes.py`; drugs and NDC: `drugs.py`; units and HIT G-code visits:
`units.py`; dates and the policy effective date: `dates.py`; diagnoses: `diagnosis.py`;
provider, member, charges, frequency and authorization: `claim.py`.
"""

from consumer.engine.rules import claim, codes, dates, diagnosis, drugs, place, units

__all__ = ["claim", "codes", "dates", "diagnosis", "drugs", "place", "units"]
