"""The example's frontend type-checks against the client makefrontend generated for it."""

import subprocess

from tests.e2e.browser import NODE_PACKAGES


def test_the_example_frontend_type_checks_against_the_generated_client(stack):
    # The stack ran makefrontend; tsc catches any drift between the generated API and its use.
    tsc = NODE_PACKAGES / "node_modules" / ".bin" / "tsc"
    done = subprocess.run(
        [str(tsc), "-p", "tsconfig.json", "--noEmit"],
        cwd=NODE_PACKAGES,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
