// Open a scenario page in headless Chromium, wait until it sets `window.__result.done`,
// and print one JSON object on stdout:
//   {result: window.__result, pageErrors, consoleErrors, consoleWarnings, requestFailures,
//    httpErrors, timedOut, load_ms}
//
//   node run_page.mjs URL [--timeout SECONDS] [--screenshot FILE]
//
// The process exits 0 whenever it could report; the tests judge the result.
import {collectProblems, launch} from "./browser.mjs";

function parse(argv) {
    const options = {url: null, timeout: 600, screenshot: null};
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--timeout") {
            options.timeout = Number(argv[++i]);
        } else if (argv[i] === "--screenshot") {
            options.screenshot = argv[++i];
        } else {
            options.url = argv[i];
        }
    }
    if (!options.url) {
        console.error("usage: node run_page.mjs URL [--timeout SECONDS] [--screenshot FILE]");
        process.exit(2);
    }
    return options;
}

const options = parse(process.argv.slice(2));
const chromium = await launch();
let report;
try {
    const page = await chromium.browser.newPage();
    const problems = collectProblems(page);
    const before = Date.now();
    await page.goto(options.url, {waitUntil: "load", timeout: 30000});
    const loadMs = Date.now() - before;
    let timedOut = false;
    try {
        await page.waitForFunction(() => window.__result && window.__result.done === true, {
            timeout: options.timeout * 1000,
            polling: 200,
        });
    } catch (error) {
        timedOut = true;
    }
    const result = await page.evaluate(() => window.__result || null);
    if (options.screenshot) {
        await page.screenshot({path: options.screenshot, fullPage: true});
    }
    report = {result, ...problems, timedOut, load_ms: loadMs};
} finally {
    await chromium.close();
}
process.stdout.write(JSON.stringify(report) + "\n");
