from tests.e2e.conftest import lab, lab_home  # noqa: F401  (the e2e lab: a seeded cluster)
