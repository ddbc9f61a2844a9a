"""Speed kernels: fast paths that are worth their complexity, each beside its plain reference.

Depends on nothing of dvnet's (numpy, pyarrow, duckdb and the standard library only), so any
layer may use a kernel and a kernel can be tested on its own against the slow, obvious version
of the same computation (``tests/unit/kernels``).
"""
