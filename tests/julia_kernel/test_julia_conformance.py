"""The third-party conformance suite (jupyter_kernel_test) against the offline Julia kernel."""

from __future__ import annotations

import jupyter_kernel_test
import pytest

from .conftest import KERNEL_NAME

pytestmark = pytest.mark.julia


class TestOfflineJuliaKernel(jupyter_kernel_test.KernelTests):
    kernel_name = KERNEL_NAME
    language_name = "julia"
    file_extension = ".jl"

    code_hello_world = 'println("hello, world")'
    code_stderr = 'println(stderr, "oops")'
    code_generate_error = 'error("boom")'
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"a" * "b"', "result": '"ab"'},
        {"code": "[1, 2]", "result": "2-element Array{Int64,1}:\n 1\n 2"},
        # A value whose type has an HTML show method gets text/html next to text/plain.
        {"code": 'using Markdown\nmd"# Title"', "mime": "text/html"},
    ]
    code_display_data = [
        {
            "code": "struct Bold; s::String; end\n"
            'Base.show(io::IO, ::MIME"text/html", b::Bold) = print(io, "<b>", b.s, "</b>")\n'
            'display(Bold("hi"))',
            "mime": "text/html",
        },
        {"code": 'display("text/plain", 42)', "mime": "text/plain"},
    ]
    completion_samples = [
        {"text": "printl", "matches": {"println"}},
        {"text": "Base.Filesys", "matches": {"Filesystem"}},
    ]
    complete_code_samples = [
        "1 + 1",
        "x = 1\ny = 2",
        "function f()\n  1\nend",
        "# only a comment",
        "",
    ]
    incomplete_code_samples = ["function f()", "x = [1,", 'println("a', "begin\n  1"]
    invalid_code_samples = ["1 +* 2)", "x = )"]
    code_inspect_sample = "println"
    code_page_something = "?println"
    code_clear_output = "BeakerJuliaKernel.clear_output()"
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6 * 7"  # a glob that matches the first code_execute_result sample only
