"""Each lab's paper claims, declared once (``CLAIMS``, a list of ``core.claims.Claim``) in a
module named after the lab's; pytest checks them at quick sizes and ``paperscope verify`` at the
paper's. They may import the lab's computation, never a UI library."""
