// Click through the development interface (beaker serve --dev-ui) in headless Chromium as a
// person would, take a screenshot after each step, and print one JSON object on stdout:
//   {steps: {name: {ok, value | error, ms}}, order, load, screenshots, pageErrors, …}
//
//   node run_dev_ui.mjs --base URL --token TOKEN --screenshots DIR [--r]
//
// A failing step does not stop the run where later steps can still work, so one run shows
// every problem; the pytest tests (test_dev_ui.py) judge the result.
import {mkdirSync} from "node:fs";
import {join} from "node:path";

import {collectProblems, launch} from "./browser.mjs";

function parse(argv) {
    const options = {base: null, token: null, screenshots: null};
    for (let i = 0; i < argv.length; i++) {
        const name = argv[i].replace(/^--/, "");
        options[name] = argv[++i];
    }
    for (const name of ["base", "token", "screenshots"]) {
        if (!options[name]) {
            console.error("usage: node run_dev_ui.mjs --base URL --token TOKEN --screenshots DIR");
            process.exit(2);
        }
    }
    options.base = options.base.replace(/\/+$/, "");
    return options;
}

const options = parse(process.argv.slice(2));
mkdirSync(options.screenshots, {recursive: true});
const report = {steps: {}, order: [], screenshots: []};
const started = Date.now();

async function step(name, timeoutMs, fn) {
    const entry = {ok: false};
    report.order.push(name);
    report.steps[name] = entry;
    const t0 = Date.now();
    let timer;
    try {
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${name}: not done within ${timeoutMs} ms`)), timeoutMs);
        });
        entry.value = await Promise.race([fn(entry), timeout]);
        entry.ok = true;
    } catch (error) {
        entry.error = {message: String(error && error.message ? error.message : error)};
        entry.messages = await recentMessages();
    } finally {
        clearTimeout(timer);
    }
    entry.ms = Date.now() - t0;
    return entry;
}

const chromium = await launch();
let page;
const problems = [];

function watch(newPage) {
    problems.push(collectProblems(newPage));
    return newPage;
}

async function shot(name, focus) {
    if (focus) {
        await page.evaluate((selector) => {
            const element = document.querySelector(selector);
            if (element) {
                element.scrollIntoView({block: "center"});
            }
        }, focus);
    }
    // No blinking caret in the pictures: the same step gives the same screenshot.
    await page.evaluate(() => {
        if (!document.getElementById("no-caret")) {
            const style = document.createElement("style");
            style.id = "no-caret";
            style.textContent = "* { caret-color: transparent !important; }";
            document.head.append(style);
        }
    });
    await new Promise((resolve) => setTimeout(resolve, 150));  // let the frame settle
    const file = join(options.screenshots, `${name}.png`);
    await page.screenshot({path: file});
    report.screenshots.push(file);
}

/** Record the kernel messages of the page (for the report of a failed step). */
async function recordMessages() {
    await page.evaluate(() => {
        window.__messages = [];
        window.beakerDevUI.session.kernel.anyMessage.connect((_, args) => {
            const msg = args.msg;
            window.__messages.push({
                direction: args.direction,
                channel: msg.channel,
                msg_type: msg.header.msg_type,
                parent: msg.parent_header ? msg.parent_header.msg_type : null,
                content: JSON.stringify(msg.content).slice(0, 300),
            });
        });
    });
}

async function recentMessages() {
    try {
        return await page.evaluate(() => (window.__messages || []).slice(-40));
    } catch (error) {
        return [`could not read the messages: ${error.message}`];
    }
}

/** Wait until an element matching `selector` contains `text`; return its text. */
async function waitText(selector, text, timeout = 30000) {
    const handle = await page.waitForFunction(
        (sel, wanted) => {
            for (const element of document.querySelectorAll(sel)) {
                if (element.textContent.includes(wanted)) {
                    return element.textContent;
                }
            }
            return false;
        },
        {timeout, polling: 100},
        selector,
        text,
    );
    return handle.jsonValue();
}

async function texts(selector) {
    return page.$$eval(selector, (elements) => elements.map((e) => e.textContent));
}

const LAST = "#notebook > .cell:last-child";

/** Add a cell with the toolbar button, type `source` into it and run it (Shift+Enter). */
async function addAndRun(button, source) {
    const before = await page.$$eval("#notebook > .cell", (cells) => cells.length);
    await page.click(button);
    await page.waitForFunction((n) => document.querySelectorAll("#notebook > .cell").length === n + 1, {}, before);
    const id = await page.$eval(LAST, (cell) => cell.dataset.cellId);
    const cell = `#notebook > .cell[data-cell-id="${id}"]`;
    await page.type(`${cell} textarea.editor`, source);
    await page.keyboard.down("Shift");
    await page.keyboard.press("Enter");
    await page.keyboard.up("Shift");
    return cell;
}

async function cellState(cell) {
    return page.$eval(cell, (element) => ({
        status: element.dataset.status || null,
        gutter: (element.querySelector(":scope > .gutter") || {}).textContent || null,
        outputs: element.querySelector(".outputs") ? element.querySelector(".outputs").innerText : null,
        html: element.querySelector(".outputs") ? element.querySelector(".outputs").innerHTML.slice(0, 2000) : null,
        events: [...element.querySelectorAll(".events > .event")].map((e) => ({class: e.className, text: e.innerText})),
        children: [...element.querySelectorAll(".cell.child")].map((child) => ({
            source: child.querySelector("textarea.editor").value,
            status: child.dataset.status || null,
            gutter: child.querySelector(".gutter").textContent,
            outputs: child.querySelector(".outputs").innerText,
        })),
    }));
}

async function setContext(language) {
    await page.select("#context-select", "default");
    await page.select("#language-select", language);
    await page.click("#context-apply");
    await waitText("#message", "Context default is set up", 120000);
    const active = await waitText("[data-test=active-language]", `${language} (`, 30000);
    return {active, label: await page.$eval("#context-label", (e) => e.textContent)};
}

try {
    page = watch(await chromium.browser.newPage());
    const url = `${options.base}/dev/`;

    await step("login", 60000, async (entry) => {
        await page.goto(url, {waitUntil: "load"});
        await page.waitForSelector("#login-form", {visible: true});
        await page.type("#token", "not-the-token");
        await page.click("#login-form button[type=submit]");
        entry.refused = await waitText("#login-error", "refused", 15000);
        await shot("01-login");
        await page.$eval("#token", (input) => (input.value = ""));
        await page.type("#token", options.token);
        await page.click("#login-form button[type=submit]");
        await page.waitForSelector("body[data-ready]", {timeout: 120000});
        return {refused: entry.refused, cookies: await page.evaluate(() => document.cookie)};
    });
    await page.close();

    // A new tab: the token in the URL fragment, as the service's log suggests.
    page = watch(await chromium.browser.newPage());
    await step("load", 120000, async (entry) => {
        const t0 = Date.now();
        await page.goto(`${url}#token=${encodeURIComponent(options.token)}`, {waitUntil: "load"});
        entry.load_ms = Date.now() - t0;
        const timing = await page.evaluate(() => {
            const nav = performance.getEntriesByType("navigation")[0];
            const resources = performance.getEntriesByType("resource")
                .filter((r) => r.name.includes("/dev/"))
                .map((r) => ({name: r.name.split("/").pop(), bytes: r.encodedBodySize, decoded: r.decodedBodySize, ms: Math.round(r.duration)}));
            return {
                dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
                load_event_ms: Math.round(nav.loadEventEnd),
                resources,
            };
        });
        await page.waitForSelector("body[data-ready]", {timeout: 120000});
        await recordMessages();
        const state = await page.evaluate(() => ({
            hash: window.location.hash,
            cookies: document.cookie,
            kept: sessionStorage.getItem("beaker-dev-ui-token") !== null,
        }));
        return {...timing, goto_load_ms: entry.load_ms, ready_ms: Date.now() - t0, ...state};
    });

    await step("choose_context", 150000, async () => {
        const result = await setContext("python3");
        await shot("02-context", ".side");
        return result;
    });

    await step("python_cells", 90000, async (entry) => {
        const hello = await addAndRun("#add-code", 'print("hello from the dev UI")');
        await waitText(`${hello} .outputs`, "hello from the dev UI");
        const rich = await addAndRun(
            "#add-code",
            "from IPython.display import HTML, Image, display\n" +
            'display(HTML("<b>bold</b> <i>html</i>"))\n' +
            "display(Image(data=__import__('base64').b64decode('iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAIklEQVR42mPQz78NR/+RAC5xhkGogRhFyOKDUcNoPAwKDQA4Rjsfu95TvQAAAABJRU5ErkJggg=='), width=64))\n" +
            "x = 42",
        );
        await page.waitForSelector(`${rich} .outputs img.image-output`, {timeout: 30000});
        const failing = await addAndRun("#add-code", "1 / 0");
        await page.waitForSelector(`${failing} .error-output`, {timeout: 30000});
        const notes = await addAndRun("#add-markdown", "# Notes\n\nSome *emphasis*.");
        await page.waitForSelector(`${notes} .rendered h1`, {timeout: 10000});
        await waitText("#state", "x", 30000);
        entry.cells = {hello, rich, failing, notes};
        const value = {
            hello: await cellState(hello),
            rich: await cellState(rich),
            failing: await cellState(failing),
            markdown: await page.$eval(`${notes} .rendered`, (e) => e.innerHTML),
            state: await page.$eval("#state", (e) => e.innerText),
        };
        await shot("03-python", failing);
        return value;
    });

    await step("agent", 120000, async (entry) => {
        const cell = await addAndRun("#add-query", "python: what is six times seven?");
        entry.cell = cell;
        try {
            await waitText(`${cell} .event.response`, "42", 60000);
            await page.waitForFunction(
                (sel) => {
                    const child = document.querySelector(`${sel} .cell.child`);
                    return child && child.dataset.status !== "running" && child.querySelector(".outputs").innerText.includes("42");
                },
                {timeout: 30000, polling: 100},
                cell,
            );
        } finally {
            entry.state = await cellState(cell);
            await shot("04-agent", cell);
        }
        return entry.state;
    });

    await step("ask_user", 120000, async (entry) => {
        const cell = await addAndRun("#add-query", "ask me for a number");
        try {
            await page.waitForSelector(`${cell} .answer-box input`, {timeout: 60000, visible: true});
            entry.question = await waitText(`${cell} .event.question`, "Which number?", 10000);
            await shot("05-ask-user", cell);
            await page.type(`${cell} .answer-box input`, "7");
            await page.click(`${cell} .answer-send`);
            await waitText(`${cell} .event.response`, "You chose 7", 60000);
        } finally {
            entry.state = await cellState(cell);
            await shot("06-answered", cell);
        }
        return entry.state;
    });

    await step("interrupt", 60000, async (entry) => {
        const cell = await addAndRun("#add-code", 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)\nprint("woke up")');
        await waitText(`${cell} .outputs`, "sleeping", 30000);
        const t0 = Date.now();
        await page.click("#interrupt");
        await page.waitForSelector(`${cell} .error-output[data-ename=KeyboardInterrupt]`, {timeout: 15000});
        entry.interrupt_ms = Date.now() - t0;
        const state = await cellState(cell);
        await shot("07-interrupted", cell);
        return {...state, interrupt_ms: entry.interrupt_ms};
    });

    await step("r_cells", 180000, async (entry) => {
        entry.context = await setContext("rlang");
        const hello = await addAndRun("#add-code", 'cat("hello from R\\n")\nanswer <- 6 * 7');
        await waitText(`${hello} .outputs`, "hello from R", 60000);
        const failing = await addAndRun("#add-code", 'stop("boom")');
        await page.waitForSelector(`${failing} .error-output`, {timeout: 30000});
        const value = {context: entry.context, hello: await cellState(hello), failing: await cellState(failing)};
        await shot("08-r", failing);
        return value;
    });

    await step("save", 30000, async () => {
        const cells = await page.$$eval("#notebook > .cell", (list) => list.map((c) => c.dataset.cellType));
        await page.$eval("#notebook-path", (input) => (input.value = ""));
        await page.type("#notebook-path", "dev-ui-test.ipynb");
        await page.click("#save");
        const message = await waitText("#message", "Saved dev-ui-test.ipynb", 15000);
        await shot("09-saved");
        return {cells, message};
    });

    await step("reopen", 120000, async () => {
        await page.click("#restart");
        await page.waitForFunction(() => document.querySelectorAll("#notebook > .cell").length === 0, {timeout: 30000});
        await waitText("#message", "The kernel was restarted", 90000);
        await page.click("#open");
        await page.waitForSelector('#open-dialog button.open-item[data-path="dev-ui-test.ipynb"]', {visible: true, timeout: 15000});
        await page.click('#open-dialog button.open-item[data-path="dev-ui-test.ipynb"]');
        await waitText("#message", "Opened dev-ui-test.ipynb", 15000);
        await page.waitForSelector("#notebook > .cell", {timeout: 10000});
        const value = {
            cells: await page.$$eval("#notebook > .cell", (list) => list.map((c) => c.dataset.cellType)),
            outputs: await texts("#notebook .outputs"),
            events: await texts("#notebook .event"),
        };
        await shot("10-reopened");
        return value;
    });

    await step("sign_out", 30000, async () => {
        const kernel = await page.evaluate(() => window.beakerDevUI.session.kernel.id);
        await page.click("#sign-out");
        await page.waitForSelector("#login-form", {visible: true, timeout: 20000});
        const kept = await page.evaluate(() => sessionStorage.getItem("beaker-dev-ui-token"));
        return {kernel, kept};
    });
} catch (error) {
    report.fatal = String(error && error.stack ? error.stack : error);
} finally {
    report.total_ms = Date.now() - started;
    // the problems of both tabs, kind by kind
    for (const collected of problems) {
        for (const [kind, items] of Object.entries(collected)) {
            report[kind] = [...(report[kind] || []), ...items];
        }
    }
    await chromium.close();
}
process.stdout.write(JSON.stringify(report) + "\n");
