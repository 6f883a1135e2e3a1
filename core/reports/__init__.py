"""Reports for the tools users already run: an evaluation as a JUnit XML test report (one test case per check) and
as a SARIF 2.1.0 log (one result per failing or waived check, located in the policy file), for CI servers and code
scanning.

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
