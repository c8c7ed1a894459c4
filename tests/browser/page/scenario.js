// The beaker-ts scenario of the browser tests, run by harness.html.
//
// Everything goes through beaker-ts's public API (BeakerSession, BeakerCodeCell,
// BeakerQueryCell, sendBeakerMessage) exactly as a front end calls it. Each step records
// what came back (or why it failed) in window.__result; the node runner prints that as
// JSON and the pytest tests assert on it field by field. A failing step does not stop the
// scenario: later steps still run, so one run shows every problem.
"use strict";

(function () {
    const params = new URLSearchParams(window.location.search);
    const base = (params.get("base") || "").replace(/\/+$/, "") + "/";
    const token = params.get("token") || "";
    const scenarioName = params.get("scenario") || "python";
    const started = performance.now();

    const result = {
        scenario: scenarioName,
        origin: window.location.origin,
        service: base,
        order: [],
        steps: {},
        messages: [],
        statuses: [],
        unhandledRejections: [],
        windowErrors: [],
        done: false,
    };
    window.__result = result;

    window.addEventListener("unhandledrejection", (event) => {
        result.unhandledRejections.push(describe(event.reason));
    });
    window.addEventListener("error", (event) => {
        result.windowErrors.push({message: event.message, source: event.filename, line: event.lineno});
    });

    // ---------------------------------------------------------------- helpers

    function now() {
        return Math.round(performance.now() - started);
    }

    function log(text) {
        document.getElementById("log").textContent += `[${now()} ms] ${text}\n`;
    }

    function clone(value) {
        if (value === undefined) {
            return null;
        }
        try {
            return JSON.parse(JSON.stringify(value));
        } catch (e) {
            return `<not JSON: ${e}>`;
        }
    }

    function describe(error) {
        if (error instanceof Error) {
            return {name: error.name, message: error.message, stack: String(error.stack || "").split("\n").slice(0, 8)};
        }
        return {name: "rejected", message: `the promise was rejected with ${JSON.stringify(clone(error))}`};
    }

    function sleep(ms) {
        return new Promise((resolve) => setTimeout(resolve, ms));
    }

    function withTimeout(promise, ms, what) {
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
        });
        return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
    }

    async function waitFor(predicate, ms, what) {
        const deadline = performance.now() + ms;
        while (!predicate()) {
            if (performance.now() > deadline) {
                throw new Error(`${what}: not within ${ms} ms`);
            }
            await sleep(50);
        }
    }

    // A step: `fn(entry)` may put partial findings on `entry` (and `entry.snapshot`, a
    // function called if the step fails) so a failure still shows what came back.
    async function step(name, timeoutMs, fn) {
        const entry = {ok: false, started_ms: now()};
        result.order.push(name);
        result.steps[name] = entry;
        log(`step ${name}`);
        try {
            entry.value = clone(await withTimeout(Promise.resolve().then(() => fn(entry)), timeoutMs, name));
            entry.ok = true;
        } catch (error) {
            entry.error = describe(error);
            log(`  failed: ${entry.error.message}`);
        }
        if (typeof entry.snapshot === "function") {
            try {
                entry.state = clone(entry.snapshot());
            } catch (error) {
                entry.state = {snapshot_failed: describe(error)};
            }
        }
        delete entry.snapshot;
        entry.ms = now() - entry.started_ms;
        return entry;
    }

    function cellState(cell) {
        return {
            id: cell.id,
            cell_type: cell.cell_type,
            source: cell.source,
            status: cell.status,
            busy: cell.busy === undefined ? null : cell.busy,
            execution_count: cell.execution_count === undefined ? null : cell.execution_count,
            last_execution: clone(cell.last_execution),
            outputs: clone(cell.outputs || []),
            events: clone(cell.events || []),
            metadata: clone(cell.metadata || {}),
            children: (cell.children || []).map(cellState),
        };
    }

    function recordMessage(direction, msg) {
        let content = clone(msg.content);
        const size = JSON.stringify(content).length;
        if (size > 200000) {
            content = {__truncated__: `${size} characters`};
        }
        result.messages.push({
            t: now(),
            direction: direction,
            channel: msg.channel,
            msg_type: msg.header.msg_type,
            msg_id: msg.header.msg_id,
            parent_msg_id: (msg.parent_header && msg.parent_header.msg_id) || null,
            parent_msg_type: (msg.parent_header && msg.parent_header.msg_type) || null,
            metadata: clone(msg.metadata || {}),
            content: content,
        });
    }

    function watch(kernel) {
        if (!kernel || kernel.__watched) {
            return;
        }
        kernel.__watched = true;
        kernel.anyMessage.connect((_, args) => recordMessage(args.direction, args.msg));
        kernel.statusChanged.connect((_, status) => result.statuses.push({t: now(), status: status}));
        kernel.connectionStatusChanged.connect((_, status) => result.statuses.push({t: now(), connection: status}));
    }

    function isReady(session) {
        const kernel = session.kernel;
        return kernel !== null && kernel.connectionStatus === "connected" && kernel.status === "idle";
    }

    // The last message this page sent of a type (beaker-ts makes the ids itself).
    function lastSent(msgType) {
        for (let i = result.messages.length - 1; i >= 0; i--) {
            const m = result.messages[i];
            if (m.direction === "send" && m.msg_type === msgType) {
                return m.msg_id;
            }
        }
        return null;
    }

    async function runCell(session, entry, source) {
        const cell = session.addCodeCell(source);
        entry.snapshot = () => cellState(cell);
        const future = cell.execute(session);
        entry.msg_id = future.msg.header.msg_id;
        const reply = await future.done;
        entry.reply = {msg_type: reply.header.msg_type, content: clone(reply.content)};
        return cellState(cell);
    }

    async function beakerRequest(session, entry, msgType, content) {
        const future = session.sendBeakerMessage(msgType, content);
        entry.msg_id = future.msg.header.msg_id;
        const reply = await future.done;
        return {msg_type: reply.header.msg_type, content: clone(reply.content)};
    }

    // ---------------------------------------------------------------- scenarios

    const LANGUAGES = {
        python: {
            language: "python3",
            stream: 'print("hello from beaker-ts")',
            stderr: 'import sys\nprint("to stderr", file=sys.stderr)',
            result: "6 * 7",
            display: 'from IPython.display import HTML, display\ndisplay(HTML("<b>bold</b>"))',
            error: "1 / 0",
            long: 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)\nprint("woke up")',
            after: 'print("still alive")',
            define: "before_reset = 1",
            probe: 'print("before_reset" in globals())',
            query: "python: what is six times seven?",
            before_agent: "kept = 21",
            change_query: "python: change kept",
            after_agent: "print(kept, 'added' in globals())",
        },
        r: {
            language: "rlang",
            stream: 'cat("hello from beaker-ts\\n")',
            stderr: 'message("to stderr")',
            result: "6 * 7",
            display: 'IRdisplay::display_html("<b>bold</b>")',
            error: 'stop("boom")',
            long: 'cat("sleeping\\n")\nSys.sleep(60)\ncat("woke up\\n")',
            after: 'cat("still alive\\n")',
            query: "r: what is six times seven?",
        },
    };

    async function scenario() {
        const lang = LANGUAGES[scenarioName];
        if (!lang) {
            throw new Error(`unknown scenario ${scenarioName}`);
        }
        const wsBase = base.replace(/^http/, "ws");
        const session = new beaker.BeakerSession({
            settings: {baseUrl: base, wsUrl: wsBase, token: token, appendToken: true},
            name: `browser test ${scenarioName}`,
            kernelName: "beaker_kernel",
            sessionId: `browser-test-${scenarioName}-${Date.now()}`,
        });
        window.__session = session;

        await step("available_contexts", 15000, () => session.availableContexts());

        // A refused request must still carry CORS headers, or the page only sees "Failed to fetch".
        await step("error_response_visible", 15000, async () => {
            const response = await fetch(`${base}api/kernels?cors-probe`);
            return {status: response.status, body: await response.text()};
        });

        await step("session_start", 90000, async (entry) => {
            entry.snapshot = () => ({status: session.status, kernel: session.kernel && session.kernel.id});
            await session.sessionReady;
            watch(session.kernel);
            session.session.kernelChanged.connect((_, change) => watch(change.newValue));
            await waitFor(() => isReady(session), 60000, "kernel connected and idle");
            return {
                kernel_id: session.kernel.id,
                kernel_name: session.kernel.name,
                status: session.status,
                connection: session.kernel.connectionStatus,
            };
        });

        if (scenarioName === "python") {
            await step("active_context_fresh", 20000, async () => {
                const info = await session.activeContext();
                return {...info, language_info: session.notebook.toIPynb().metadata.language_info};
            });
        }

        await step("set_context", 120000, async (entry) => {
            const returned = await session.setContext({
                context: "default",
                language: lang.language,
                context_info: {},
            });
            entry.msg_id = lastSent("context_setup_request");
            // preview and kernel_state_info follow the setup; let them arrive
            await waitFor(() => isReady(session), 30000, "kernel idle after the setup");
            return {
                returned: returned,
                language_info: session.notebook.toIPynb().metadata.language_info,
            };
        });

        await step("active_context", 20000, () => session.activeContext());

        if (scenarioName === "r") {
            // Front ends store the `subkernel` of the setup response (the notebook's
            // language_info.name) and send it back as the language later.
            await step("set_context_by_subkernel_name", 120000, async () => {
                const stored = session.notebook.toIPynb().metadata.language_info;
                await session.setContext({context: "default", language: stored && stored.name, context_info: {}});
                await waitFor(() => isReady(session), 30000, "kernel idle after the setup");
                return {sent_language: stored && stored.name, active: await session.activeContext()};
            });
        }

        for (const name of ["stream", "stderr", "result", "display", "error"]) {
            await step(`cell_${name}`, 30000, (entry) => runCell(session, entry, lang[name]));
        }

        await step("query_cell", 120000, async (entry) => {
            const cell = session.addQueryCell(lang.query);
            entry.snapshot = () => cellState(cell);
            const future = cell.execute(session);
            entry.msg_id = future.msg.header.msg_id;
            const reply = await future.done;
            entry.reply = {msg_type: reply.header.msg_type, content: clone(reply.content)};
            await waitFor(
                () => cell.children.length > 0 && cell.children.every((child) => !child.busy),
                30000,
                "the agent's child cell to run",
            );
            return cellState(cell);
        });

        if (scenarioName === "python") {
            // The agent changes a variable in a child cell; "roll back" on that child cell
            // (beaker-ts sends the checkpoint_index it got with add_child_codecell) undoes it.
            await step("child_rollback", 120000, async (entry) => {
                await runCell(session, {}, lang.before_agent);
                const cell = session.addQueryCell(lang.change_query);
                await cell.execute(session).done;
                await waitFor(
                    () => cell.children.length > 0 && cell.children.every((child) => !child.busy),
                    30000,
                    "the agent's child cell to run",
                );
                const child = cell.children[0];
                const before = cellState(child);
                const future = child.rollback(session);
                if (!future) {
                    throw new Error(`rollback() did nothing: last_execution ${JSON.stringify(before.last_execution)}`);
                }
                entry.msg_id = future.msg.header.msg_id;
                const reply = await future.done;
                await waitFor(() => !child.busy, 30000, "the child cell to leave its busy state");
                const probe = await runCell(session, {}, lang.after_agent);
                return {
                    child_before: before,
                    reply: {msg_type: reply.header.msg_type, content: clone(reply.content)},
                    child_after: cellState(child),
                    probe: probe,
                };
            });
            await step("set_agent_model", 20000, (entry) => beakerRequest(session, entry, "set_agent_model", {}));
            await step("beaker_session_info", 20000, (entry) =>
                beakerRequest(session, entry, "beaker_session_info_request", {}));
            await step("reset_request", 120000, (entry) => beakerRequest(session, entry, "reset_request", {}));
        }

        await step("interrupt", 45000, async (entry) => {
            const cell = session.addCodeCell(lang.long);
            entry.snapshot = () => cellState(cell);
            const future = cell.execute(session);
            entry.msg_id = future.msg.header.msg_id;
            await waitFor(
                () => cell.outputs.some((o) => o.output_type === "stream" && String(o.text).includes("sleeping")),
                30000,
                "the long cell to start",
            );
            const before = performance.now();
            await session.interrupt();
            const reply = await future.done;
            entry.interrupt_ms = Math.round(performance.now() - before);
            entry.reply = {msg_type: reply.header.msg_type, content: clone(reply.content)};
            const after = {};
            entry.after = after;
            await runCell(session, after, lang.after);
            return cellState(cell);
        });

        if (scenarioName === "python") {
            await step("session_reset", 150000, async (entry) => {
                await runCell(session, {}, lang.define);
                const seen = result.statuses.length;
                session.reset();
                entry.cells_after_reset = session.notebook.cells.length;
                await waitFor(
                    () => result.statuses.slice(seen).some((s) => s.status === "restarting"),
                    30000,
                    "the kernel to restart",
                );
                await waitFor(() => isReady(session), 120000, "the restarted kernel to be idle");
                const probe = {};
                entry.probe = probe;
                const probed = await runCell(session, probe, lang.probe);
                const context = await session.activeContext();
                return {probe: probed, active_context: context};
            });
        }
    }

    scenario()
        .catch((error) => {
            result.fatal = describe(error);
        })
        .finally(async () => {
            await sleep(1000);  // trailing iopub messages (previews, chat history)
            result.total_ms = now();
            result.done = true;
            log("done");
        });
})();
