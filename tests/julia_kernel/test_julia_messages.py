"""The offline Julia kernel's messages, request by request, in its container."""

from __future__ import annotations

import base64
import subprocess
import time

import pytest
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from jupyter_client.session import Session

from .conftest import TEST_LABEL, TIMEOUT, JuliaClient, start_julia_kernel, stop_julia_kernel

pytestmark = pytest.mark.julia

# The eight bytes every PNG file starts with, then an (incomplete) IHDR chunk: enough to check that
# binary output arrives base64-encoded and intact.
PNG_BYTES = bytes(
    [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
)


def test_kernel_info_describes_julia(julia: JuliaClient) -> None:
    reply = julia.shell_reply(julia.kc.kernel_info())
    content = reply["content"]
    assert reply["msg_type"] == "kernel_info_reply"
    assert content["status"] == "ok"
    assert content["protocol_version"] == "5.3"
    assert content["implementation"] == "beaker-julia"
    assert content["language_info"]["name"] == "julia"
    assert content["language_info"]["version"].startswith("1.5.")
    assert content["language_info"]["file_extension"] == ".jl"


def test_stdout_and_stderr_are_streams_before_the_result(julia: JuliaClient) -> None:
    result = julia.run_ok('print("out ", 1); println(stderr, "err"); println("ü ✓"); 40 + 2')
    assert result.stream("stdout") == "out 1ü ✓\n"
    assert result.stream("stderr") == "err\n"
    kinds = [m["msg_type"] for m in result.outputs]
    assert kinds[0] == "execute_input"
    assert kinds[-1] == "execute_result"
    assert result.of_type("execute_result")[0]["data"]["text/plain"] == "42"
    assert (
        result.of_type("execute_result")[0]["execution_count"] == result.content["execution_count"]
    )


def test_output_of_c_code_is_captured(julia: JuliaClient) -> None:
    result = julia.run_ok('ccall(:puts, Cint, (Cstring,), "from C");')
    assert result.stream("stdout") == "from C\n"
    assert result.of_type("execute_result") == []  # the semicolon hides the value


def test_execution_count_and_ans(julia: JuliaClient) -> None:
    first = julia.run_ok("x_counted = 5")
    second = julia.run_ok("ans + 1")
    assert second.content["execution_count"] == first.content["execution_count"] + 1
    assert second.of_type("execute_result")[0]["data"]["text/plain"] == "6"
    silent = julia.execute("x_counted = 7", silent=True)
    assert silent.content["status"] == "ok"
    assert silent.outputs == []  # no execute_input, no result
    third = julia.run_ok("x_counted")
    assert third.content["execution_count"] == second.content["execution_count"] + 1
    assert third.of_type("execute_result")[0]["data"]["text/plain"] == "7"


def test_nothing_has_no_result(julia: JuliaClient) -> None:
    result = julia.run_ok("nothing")
    assert result.of_type("execute_result") == []


def test_rich_results_html_markdown_and_png(julia: JuliaClient) -> None:
    png = ", ".join(f"0x{b:02x}" for b in PNG_BYTES)
    julia.run_ok(
        "struct Picture end\n"
        f'Base.show(io::IO, ::MIME"image/png", ::Picture) = write(io, UInt8[{png}])\n'
        'Base.show(io::IO, ::Picture) = print(io, "a picture")'
    )
    shown = julia.run_ok("Picture()").of_type("execute_result")[0]["data"]
    assert shown["text/plain"] == "a picture"
    assert base64.b64decode(shown["image/png"]) == PNG_BYTES

    displayed = julia.run_ok('display(Picture()); display("text/html", HTML("<i>x</i>"))')
    data = displayed.of_type("display_data")
    assert len(data) == 2
    assert base64.b64decode(data[0]["data"]["image/png"]) == PNG_BYTES
    assert data[1]["data"]["text/html"] == "<i>x</i>"
    assert "text/plain" in data[1]["data"]

    markdown = julia.run_ok('using Markdown\nmd"**bold**"').of_type("execute_result")[0]["data"]
    assert "<strong>bold</strong>" in markdown["text/html"]
    assert markdown["text/markdown"].strip() == "**bold**"


def test_display_keeps_its_place_among_printed_lines(julia: JuliaClient) -> None:
    result = julia.run_ok('println("before"); display(1:3); println("after")')
    kinds = [(m["msg_type"], m["content"].get("text")) for m in result.outputs[1:]]
    assert kinds == [("stream", "before\n"), ("display_data", None), ("stream", "after\n")]


def test_error_reply_has_the_users_backtrace(julia: JuliaClient) -> None:
    julia.run_ok('inner_fails() = error("deep trouble")\nouter_calls() = inner_fails()')
    result = julia.execute('println("partial"); outer_calls()')
    content = result.content
    assert content["status"] == "error"
    assert content["ename"] == "ErrorException"
    assert content["evalue"] == "deep trouble"
    traceback = "\n".join(content["traceback"])
    assert traceback.startswith("ERROR: deep trouble")
    assert "inner_fails()" in traceback
    assert "outer_calls()" in traceback
    assert "BeakerJuliaKernel" not in traceback  # the kernel's own frames are cut off
    assert result.stream("stdout") == "partial\n"
    published = result.of_type("error")
    assert len(published) == 1
    assert published[0]["ename"] == "ErrorException"
    # the kernel carries on
    assert julia.run_ok("1 + 1").of_type("execute_result")[0]["data"]["text/plain"] == "2"


def test_undefined_name_and_syntax_errors(julia: JuliaClient) -> None:
    undefined = julia.execute("no_such_variable_here")
    assert undefined.content["ename"] == "UndefVarError"
    assert "no_such_variable_here" in undefined.content["evalue"]
    syntax = julia.execute("1 +* 2)")
    assert syntax.content["status"] == "error"
    assert syntax.content["ename"] == "ParseError" or "syntax" in syntax.content["evalue"]


def test_queued_requests_are_aborted_after_an_error(julia: JuliaClient) -> None:
    failing = julia.kc.execute('sleep(1); error("first")')
    queued = julia.kc.execute('println("must not run")')
    replies = {}
    for _ in range(2):
        msg = julia.kc.get_shell_msg(timeout=TIMEOUT)
        replies[msg["parent_header"]["msg_id"]] = msg["content"]
    assert replies[failing]["status"] == "error"
    assert replies[queued]["status"] == "aborted"
    julia.collect_iopub(queued)


def test_user_expressions(julia: JuliaClient) -> None:
    result = julia.run_ok(
        "ue_value = 21", user_expressions={"double": "ue_value * 2", "bad": "nope_x"}
    )
    expressions = result.content["user_expressions"]
    assert expressions["double"]["status"] == "ok"
    assert expressions["double"]["data"]["text/plain"] == "42"
    assert expressions["bad"]["status"] == "error"
    assert expressions["bad"]["ename"] == "UndefVarError"


def test_readline_asks_the_front_end(julia: JuliaClient) -> None:
    msg_id = julia.kc.execute(
        'name = readline(); println("hello ", name); length(name)', allow_stdin=True
    )
    request = julia.kc.get_stdin_msg(timeout=TIMEOUT)
    assert request["msg_type"] == "input_request"
    assert request["parent_header"]["msg_id"] == msg_id
    assert request["content"]["password"] is False
    julia.kc.input("Ada ✓")
    reply = julia.shell_reply(msg_id)
    assert reply["content"]["status"] == "ok"
    outputs = julia.collect_iopub(msg_id)
    assert (
        "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
        == "hello Ada ✓\n"
    )
    results = [
        m["content"]["data"]["text/plain"] for m in outputs if m["msg_type"] == "execute_result"
    ]
    assert results == ["5"]


def test_readline_without_stdin_is_an_error(julia: JuliaClient) -> None:
    result = julia.execute("readline()", allow_stdin=False)
    assert result.content["status"] == "error"
    assert result.content["ename"] == "StdinNotAllowed"


def test_comm_info_is_empty(julia: JuliaClient) -> None:
    reply = julia.shell_reply(julia.kc.comm_info())
    assert reply["msg_type"] == "comm_info_reply"
    assert reply["content"] == {"status": "ok", "comms": {}}


def test_complete_counts_characters_not_bytes(julia: JuliaClient) -> None:
    julia.run_ok("αβ_value_one = 1; αβ_value_two = 2")
    code = "x = αβ_val"
    content = julia.shell_reply(julia.kc.complete(code, len(code)))["content"]
    assert content["status"] == "ok"
    assert set(content["matches"]) == {"αβ_value_one", "αβ_value_two"}
    assert content["cursor_start"] == 4
    assert content["cursor_end"] == len(code)


def test_inspect_returns_documentation(julia: JuliaClient) -> None:
    content = julia.shell_reply(julia.kc.inspect("sort!(v)", cursor_pos=3))["content"]
    assert content["found"] is True
    assert "sort!" in content["data"]["text/plain"]
    missing = julia.shell_reply(julia.kc.inspect("not_a_name_anywhere", cursor_pos=3))
    assert missing["content"]["found"] is False


def test_help_mode_pages_documentation(julia: JuliaClient) -> None:
    result = julia.run_ok("?println")
    (page,) = result.content["payload"]
    assert page["source"] == "page"
    assert "println([io::IO], xs...)" in page["data"]["text/plain"]


def test_history_in_memory(julia: JuliaClient) -> None:
    first = julia.run_ok("hist_marker = 1")
    julia.run_ok("hist_marker + 1")
    tail = julia.shell_reply(julia.kc.history(hist_access_type="tail", n=2, output=True, raw=True))[
        "content"
    ]["history"]
    line = first.content["execution_count"]
    assert tail == [[1, line, ["hist_marker = 1", "1"]], [1, line + 1, ["hist_marker + 1", "2"]]]
    search = julia.kc.history(
        hist_access_type="search", pattern="hist_marker*", output=False, raw=True
    )
    found = julia.shell_reply(search)["content"]["history"]
    assert [h[2] for h in found] == ["hist_marker = 1", "hist_marker + 1"]
    ranged = julia.kc.history(
        hist_access_type="range", session=0, start=line, stop=line + 1, raw=True, output=False
    )
    assert julia.shell_reply(ranged)["content"]["history"] == [[1, line, "hist_marker = 1"]]


def test_a_message_with_a_bad_signature_is_dropped(julia: JuliaClient) -> None:
    forger = Session(key=b"not-the-key", signature_scheme="hmac-sha256")
    forged = forger.send(
        julia.kc.shell_channel.socket,
        "execute_request",
        {
            "code": "forged_ran = true",
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
        },
    )
    assert forged is not None
    genuine = julia.kc.kernel_info()
    # The next reply is the genuine request's: the forged one gets none.
    reply = julia.kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == genuine
    assert reply["parent_header"]["msg_id"] != forged["header"]["msg_id"]
    check = julia.run_ok("isdefined(Main, :forged_ran)")
    assert check.of_type("execute_result")[0]["data"]["text/plain"] == "false"


def test_interrupt_stops_sleeping_code(julia: JuliaClient) -> None:
    msg_id = julia.kc.execute('println("started"); sleep(60); println("not reached")')
    _wait_for_stream(julia, msg_id, "started")
    started = time.monotonic()
    julia.manager.interrupt_kernel()
    reply = julia.shell_reply(msg_id)
    assert time.monotonic() - started < 10
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "InterruptException"
    outputs = julia.collect_iopub(msg_id)
    assert "not reached" not in "".join(m["content"].get("text", "") for m in outputs)
    assert julia.run_ok("3 * 3").of_type("execute_result")[0]["data"]["text/plain"] == "9"


def test_interrupt_stops_a_busy_loop(julia: JuliaClient) -> None:
    # Julia 1.5 takes a SIGINT at its next safepoint; allocating code reaches one at every
    # allocation.
    msg_id = julia.kc.execute(
        'println("spinning")\n'
        "function spin()\n  v = Float64[]\n  while true\n    v = [rand()]\n  end\nend\nspin()"
    )
    _wait_for_stream(julia, msg_id, "spinning")
    time.sleep(0.5)
    julia.manager.interrupt_kernel()
    reply = julia.shell_reply(msg_id, timeout=30)
    assert reply["content"]["ename"] == "InterruptException"
    julia.collect_iopub(msg_id)
    assert julia.run_ok('"alive"').of_type("execute_result")[0]["data"]["text/plain"] == '"alive"'


def test_clear_output(julia: JuliaClient) -> None:
    result = julia.run_ok('println("gone"); BeakerJuliaKernel.clear_output(true)')
    kinds = [m["msg_type"] for m in result.outputs]
    assert kinds == ["execute_input", "stream", "clear_output"]
    assert result.of_type("clear_output") == [{"wait": True}]


def test_heartbeat_answers_while_code_runs(julia: JuliaClient) -> None:
    msg_id = julia.kc.execute("sleep(3)")
    time.sleep(1)
    assert julia.kc.is_alive()
    assert julia.kc.hb_channel.is_beating()
    julia.shell_reply(msg_id)
    julia.collect_iopub(msg_id)


def test_shutdown_ends_the_container(julia_kernelspec_dir: object, container_label: str) -> None:
    before = _running_containers(container_label)
    manager, client = start_julia_kernel()
    try:
        started = _running_containers(container_label) - before
        assert len(started) == 1
        shutdown = client.shutdown()
        reply = JuliaClient(manager, client).shell_reply(shutdown, channel="control")
        assert reply["msg_type"] == "shutdown_reply"
        assert reply["content"] == {"status": "ok", "restart": False}
        deadline = time.monotonic() + 20
        while manager.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not manager.is_alive()
        assert isinstance(manager.provisioner, LocalProvisioner)
        assert manager.provisioner.process is not None
        assert manager.provisioner.process.returncode == 0  # the kernel exited by itself, cleanly
        assert not started & _running_containers(container_label)  # --rm removed it
    finally:
        stop_julia_kernel(manager, client)


def _running_containers(label: str) -> set[str]:
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={label}", "--filter", f"label={TEST_LABEL}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(listed.stdout.split())


def _wait_for_stream(julia: JuliaClient, msg_id: str, text: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        msg = julia.kc.get_iopub_msg(timeout=TIMEOUT)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "stream"
            and text in msg["content"]["text"]
        ):
            return
    raise AssertionError(f"no {text!r} on stdout")
