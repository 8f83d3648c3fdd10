"""DCRF's own suite passes on rxcdc.api (52 tests, bodies as published, imports rewritten)."""

import pytest

from tests.dcrf import suite

EXPECTED = 52


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dcrf_suite_passes_on_rxcdc_api(tmp_path, services, capsys):
    rewritten = suite.prepare(tmp_path)
    assert rewritten, "no import was rewritten: not DCRF's suite?"
    result = suite.run(tmp_path)
    with capsys.disabled():
        print(f"\nDCRF {suite.VERSION} suite on rxcdc.api: {result.summary}")
    assert result.counts.get("passed") == EXPECTED and result.returncode == 0, result.output
