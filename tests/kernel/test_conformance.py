"""The third-party Jupyter kernel conformance suite, run against beaker_kernel.

The subkernel is ipykernel, so the samples are Python; what is tested is that Beaker
relays every message type in both directions without changing its meaning.
"""

from __future__ import annotations

import os

import jupyter_kernel_test


class WithoutContext:
    """Start the kernel with no context: Beaker must then be indistinguishable from its
    subkernel (a context adds messages of its own, such as ``kernel_state_info``)."""

    _saved: str | None = None

    @classmethod
    def setUpClass(cls) -> None:
        cls._saved = os.environ.get("BEAKER_DEFAULT_CONTEXT")
        os.environ["BEAKER_DEFAULT_CONTEXT"] = "none"
        super().setUpClass()  # type: ignore[misc]

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()  # type: ignore[misc]
        if cls._saved is None:
            os.environ.pop("BEAKER_DEFAULT_CONTEXT", None)
        else:
            os.environ["BEAKER_DEFAULT_CONTEXT"] = cls._saved


class TestBeakerIOPubWelcome(WithoutContext, jupyter_kernel_test.IopubWelcomeTests):
    kernel_name = "beaker_kernel"
    support_iopub_welcome = True


class TestBeakerPythonConformance(WithoutContext, jupyter_kernel_test.KernelTests):
    kernel_name = "beaker_kernel"
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('test', file=sys.stderr)"
    completion_samples = [{"text": "zi", "matches": {"zip"}}]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2"]
    invalid_code_samples = ["import = 7q"]
    code_page_something = "zip?"
    code_generate_error = "raise ValueError('boom')"
    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(4)]", "result": "[0, 1, 4, 9]"},
    ]
    code_display_data = [
        {
            "code": "from IPython.display import HTML, display; display(HTML('<b>hi</b>'))",
            "mime": "text/html",
        },
        {
            "code": "from IPython.display import Math, display; display(Math(r'\\frac{1}{2}'))",
            "mime": "text/latex",
        },
    ]
    code_history_pattern = "1?2*"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "zip"
    code_clear_output = "from IPython.display import clear_output; clear_output()"
